/**
 * What a command task's terminal update says (issue 20), as Mesos's command executor words it:
 * a signal by its description ("Command terminated with signal Terminated", not "signal 15"),
 * and a task the framework killed is TASK_KILLED however its command ended. Real tasks on a real
 * agent.
 */
import test from 'ava';
import { commandTask, frameworkInfo, startCluster } from '../helpers/cluster.ts';

test('terminal messages: a kill is "signal Terminated", a kill past the grace "signal Killed", a crash "signal Segmentation fault"; a killed task that exits 0 is still TASK_KILLED', async (t) => {
  const c = await startCluster(t);
  const fw = await c.framework(frameworkInfo({ name: 'kills' }));
  // A trap that exits 0 on SIGTERM; a task that ignores SIGTERM (kill policy grace 1 s).
  const ready = (name: string) => `touch ${name}.ready`;
  await fw.launch([
    commandTask('plain', 'exec sleep 60'),
    commandTask('trap', `trap 'exit 0' TERM; ${ready('trap')}; while :; do sleep 0.1; done`),
    commandTask('stubborn', `trap '' TERM; ${ready('stubborn')}; while :; do sleep 0.1; done`, { kill_policy: { grace_period: { nanoseconds: 1e9 } } }),
    commandTask('crash', 'kill -SEGV $$'),
  ]);
  for (const id of ['plain', 'trap', 'stubborn']) await fw.update(id, 'TASK_RUNNING', 15_000);
  // The traps are set before each task says it is ready (a file in its sandbox).
  const sandbox = async (id: string) => {
    const s = await c.agentJson(0, '/state');
    return s.frameworks.flatMap((f: any) => f.executors).find((e: any) => e.id === id).directory as string;
  };
  const { existsSync } = await import('node:fs');
  for (const id of ['trap', 'stubborn']) {
    const dir = await sandbox(id);
    await c.until(() => existsSync(`${dir}/${id}.ready`), 10_000, `${id} to set its trap`);
  }

  const crash = await fw.update('crash', ['TASK_FAILED', 'TASK_FINISHED', 'TASK_KILLED'], 15_000);
  t.like(crash, { state: 'TASK_FAILED', message: 'Command terminated with signal Segmentation fault' });

  for (const id of ['plain', 'trap', 'stubborn']) await fw.kill(id);
  const plain = await fw.update('plain', ['TASK_KILLED', 'TASK_FAILED', 'TASK_FINISHED'], 15_000);
  t.like(plain, { state: 'TASK_KILLED', source: 'SOURCE_EXECUTOR', message: 'Command terminated with signal Terminated' });
  const trap = await fw.update('trap', ['TASK_KILLED', 'TASK_FAILED', 'TASK_FINISHED'], 15_000);
  t.like(trap, { state: 'TASK_KILLED', message: 'Command exited with status 0' });
  const stubborn = await fw.update('stubborn', ['TASK_KILLED', 'TASK_FAILED', 'TASK_FINISHED'], 15_000);
  t.like(stubborn, { state: 'TASK_KILLED', message: 'Command terminated with signal Killed' });
  t.false(JSON.stringify(fw.events).includes('signal 15'));
});
