/**
 * A COMMAND health check runs in the task's container (issue 20), as Mesos's command executor
 * runs it: on a real agent as root with its own mount and pid namespaces (filesystem/shared,
 * namespaces/pid), cgroups (cgroups/cpu, cgroups/mem) and --switch_user. The check of a task in
 * its own pid namespace sees that namespace's /proc (the task is pid 1 there); the check of a
 * task run as `nobody` runs as nobody, so one that wants root fails and has the task killed; the
 * check of a task in cgroups of its own is in the same cgroups (every hierarchy of
 * /proc/self/cgroup) as the task.
 */
import anyTest from 'ava';
import { type Json, commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';
import { rootOnly } from '../helpers/root.ts';
import { clearLeftoverCgroups, removeRoot, testRoot } from '../linux/cgroups_fixture.ts';

const test = rootOnly(anyTest);
const root = testRoot();

test.before(async () => {
  await clearLeftoverCgroups();
});
test.after.always(async () => {
  await removeRoot(root);
});

const FAST = { type: 'COMMAND', delay_seconds: 0, interval_seconds: 0.2, timeout_seconds: 5, grace_period_seconds: 30 };

test("a COMMAND check runs in the task's pid and mount namespaces and as its user", async (t) => {
  const c = await startCluster(t, {
    agentArgs: [`--isolation=cgroups/cpu,cgroups/mem,filesystem/shared,namespaces/pid`, `--cgroups_root=${root}`, '--switch_user=true'],
  });
  const fw = await c.framework(frameworkInfo({ name: 'health-root' }));
  // The check of a task in its own pid namespace sees that namespace's /proc (the container's):
  // the task, `sleep`, is pid 1 there.
  const withCheck = (id: string, command: string, check: string, extra: Json = {}): Json => ({
    ...commandTask(id, command),
    health_check: { ...FAST, command: { value: check }, ...extra },
  });
  const asNobody = (task: Json): Json => ({ ...task, command: { ...task.command, user: 'nobody' } });
  await fw.launch([
    withCheck('in-pid-ns', 'exec sleep 60', 'grep -q sleep /proc/1/cmdline'),
    // The task writes its cgroups into the sandbox; the check passes when its own are the same,
    // and are the container's (below the agent's --cgroups_root).
    withCheck(
      'in-cgroups',
      'cat /proc/self/cgroup > task_cgroup && exec sleep 60',
      `grep -q ':/${root}/' /proc/self/cgroup && test "$(cat /proc/self/cgroup)" = "$(cat task_cgroup)"`,
    ),
    asNobody(withCheck('as-nobody', 'exec sleep 60', 'test "$(id -un)" = nobody')),
    // Run as the task's user, not the agent's root: a check wanting root fails, and the task is killed.
    asNobody(withCheck('wants-root', 'exec sleep 60', 'test "$(id -u)" = 0', { grace_period_seconds: 0, consecutive_failures: 2 })),
  ]);
  const updates = (id: string) => (fw.events as Json[]).filter((e) => e.type === 'UPDATE' && e.update.status.task_id.value === id).map((e) => e.update.status);
  for (const id of ['in-pid-ns', 'as-nobody', 'in-cgroups'])
    await c.until(() => updates(id).some((s) => s.healthy === true), 20_000, `the check of ${id} to pass`);
  for (const id of ['in-pid-ns', 'as-nobody', 'in-cgroups'])
    t.false(
      updates(id).some((s) => s.healthy === false),
      id,
    );
  await c.until(() => updates('wants-root').some((s) => s.state === 'TASK_KILLED'), 20_000, 'the task whose check wants root to be killed');
  t.like(
    updates('wants-root').find((s) => s.state === 'TASK_KILLED'),
    { healthy: false },
  );
});
