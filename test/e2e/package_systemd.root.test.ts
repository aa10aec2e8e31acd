/**
 * The package under a real systemd: a Debian 12 root made by debootstrap (from the Debian
 * registry, under this test's own directory, removed at the end) booted with `systemd-nspawn -b`,
 * so that systemd runs as the container's PID 1 and the units run as systemd runs them (User=,
 * the hardening, KillMode=process, Delegate=yes, postinst's try-restart). Debian 12's nodejs is
 * 18: the container gets this host's Node 20 bound read-only at /opt/node20/bin/node, named
 * with CORRAL_NODE in /etc/default/corral, the way README's "Installing" documents.
 *
 * Install, start master and agent through their units, run a long task, install a newer version
 * over it: the agent restarts on the new code and recovers the task, which keeps running (same
 * pid); then remove (services stopped, configuration and state kept) and purge (gone).
 * The container shares this host's network: the test is the framework, over loopback.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import anyTest from 'ava';
import { freePort } from '../helpers/agent_process.ts';
import { type Json, Scheduler, commandTask, frameworkInfo, getJson } from '../helpers/cluster.ts';
import { inCI, rootOnly } from '../helpers/root.ts';
import { waitUntil } from '../helpers/zookeeper.ts';

const test = rootOnly(anyTest);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PREFIX = 'corral-systemdtest-';
const NODE_IN = '/opt/node20/bin/node';
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The Debian mirror apt uses here (CI: the Debian registry), else deb.debian.org. */
function debianMirror(): string {
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!existsSync(f)) continue;
    const m =
      /^(?:URIs:|deb)\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s*$/m.exec(readFileSync(f, 'utf8')) ??
      /^(?:URIs:|deb)\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\b/m.exec(readFileSync(f, 'utf8'));
    if (m) return m[1]!;
  }
  return 'http://deb.debian.org/debian';
}

/** A crashed run's container (its nspawn) and directory: their test process is gone. */
function clearLeftovers(): void {
  for (const name of readdirSync(tmpdir())) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid || spawnSync('kill', ['-0', m[1]!]).status === 0) continue;
    const path = join(tmpdir(), name);
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(join(path, 'root'))) process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    spawnSync('rm', ['-rf', '--one-file-system', path]);
  }
}

/** A booted container: run commands in it (nsenter into its PID 1's namespaces). */
class Container {
  private constructor(
    readonly nspawn: ChildProcess,
    readonly init: number,
    readonly log: () => string,
  ) {}

  static async boot(root: string, binds: readonly string[]): Promise<Container> {
    let out = '';
    // --register=no --keep-unit: no machined, no host systemd (PID 1 here need not be systemd).
    const nspawn = spawn('systemd-nspawn', ['-q', '-D', root, '-b', '--register=no', '--keep-unit', '--console=pipe', ...binds.map((b) => `--bind-ro=${b}`)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const s of [nspawn.stdout!, nspawn.stderr!]) s.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8000)));
    let init = 0;
    await waitUntil(
      () => {
        if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited ${nspawn.exitCode}: ${out}`);
        init = descendantNamed(nspawn.pid!, 'systemd') ?? 0;
        return init !== 0;
      },
      'the container’s systemd',
      60_000,
    );
    const c = new Container(nspawn, init, () => out);
    await waitUntil(() => ['running', 'degraded'].includes(c.sh('systemctl is-system-running || true').trim()), 'the container to finish booting', 120_000);
    return c;
  }

  /** Run `script` with /bin/sh in the container; its stdout (throws with stderr on failure). */
  sh(script: string): string {
    const r = spawnSync('nsenter', ['-t', String(this.init), '-a', '--', 'env', '-i', PATH, '/bin/sh', '-c', script], { encoding: 'utf8', timeout: 180_000 });
    if (r.status !== 0) throw new Error(`in the container: ${script}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** Power off (systemd stops the units), else kill nspawn, and wait for its end. */
  async stop(): Promise<void> {
    if (this.nspawn.exitCode !== null) return;
    const ended = new Promise<void>((resolve) => this.nspawn.once('exit', () => resolve()));
    this.nspawn.kill('SIGTERM'); // nspawn asks the container's systemd to halt
    const timer = setTimeout(() => this.nspawn.kill('SIGKILL'), 30_000);
    await ended;
    clearTimeout(timer);
  }
}

/** The first descendant of `pid` whose comm is `name`. */
function descendantNamed(pid: number, name: string): number | undefined {
  const children = new Map<number, number[]>();
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))![1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(p)]);
    } catch {
      // gone
    }
  }
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length > 0) {
    const p = queue.shift()!;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === name) return p;
    } catch {
      continue;
    }
    queue.push(...(children.get(p) ?? []));
  }
  return undefined;
}

const missing = ['debootstrap', 'systemd-nspawn'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);

test('under a real systemd: install, start through the units, upgrade with a running task, remove, purge', async (t) => {
  if (missing.length > 0) {
    if (inCI()) t.fail(`${missing.join(', ')} missing: apt-get install debootstrap systemd-container (README, .ci/run)`);
    else t.log(`${missing.join(', ')} missing (apt-get install debootstrap systemd-container): not run`);
    t.pass();
    return;
  }
  t.timeout(900_000);
  clearLeftovers();
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  let container: Container | undefined;
  const schedulers: Scheduler[] = [];
  t.teardown(async () => {
    for (const s of schedulers) s.close();
    await container?.stop();
    // --one-file-system: never into a mount nspawn may have left.
    spawnSync('rm', ['-rf', '--one-file-system', dir]);
  });

  // The packages: this build (revision 1) and a newer version of it (revision 2).
  const deb1 = execFileSync(process.execPath, [join(ROOT, 'scripts', 'package.mjs'), `--out=${dir}`, '--revision=1'], { cwd: ROOT, encoding: 'utf8' })
    .trim()
    .split('\n')
    .at(-1)!;
  const unpacked = join(dir, 'unpacked');
  execFileSync('dpkg-deb', ['-R', deb1, unpacked]);
  const control = join(unpacked, 'DEBIAN', 'control');
  writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: (.*)-1$/m, 'Version: $1-2'));
  const deb2 = deb1.replace(/-1_([a-z0-9]+)\.deb$/, '-2_$1.deb');
  execFileSync('dpkg-deb', ['--root-owner-group', '-b', unpacked, deb2], { stdio: 'ignore' });
  rmSync(unpacked, { recursive: true });

  // Debian 12 with systemd, from the Debian registry.
  const root = join(dir, 'root');
  const started = Date.now();
  const boot = spawnSync('debootstrap', ['--variant=minbase', '--include=systemd,systemd-sysv,dbus,libstdc++6,procps', 'bookworm', root, debianMirror()], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  t.is(boot.status, 0, `debootstrap: ${boot.stdout.slice(-2000)}${boot.stderr.slice(-2000)}`);
  t.log(`debootstrap: ${Math.round((Date.now() - started) / 1000)} s`);
  rmSync(join(root, 'var/cache/apt/archives'), { recursive: true, force: true });
  mkdirSync(join(root, 'var/cache/apt/archives/partial'), { recursive: true });
  writeFileSync(join(root, 'etc/hostname'), 'corral-systemd-test\n');
  mkdirSync(join(root, 'root/debs'), { recursive: true });
  for (const d of [deb1, deb2]) execFileSync('cp', [d, join(root, 'root/debs/')]);
  mkdirSync(join(root, dirname(NODE_IN)), { recursive: true });
  writeFileSync(join(root, NODE_IN), '');

  container = await Container.boot(root, [`${process.execPath}:${NODE_IN}`]);
  const c = container;
  t.regex(c.sh('cat /proc/1/comm'), /^systemd$/m);

  // Install. Debian 12 has no Node 20: the documented path, CORRAL_NODE in /etc/default/corral.
  const name1 = deb1.split('/').at(-1)!;
  const name2 = deb2.split('/').at(-1)!;
  const install1 = c.sh(`dpkg -i /root/debs/${name1} 2>&1`);
  t.regex(install1, /Setting up corral \(0\.1\.0-1\)/);
  t.regex(install1, /warning: no Node\.js 20 or later found/);
  const masterPort = await freePort();
  const agentPort = await freePort();
  c.sh(
    [
      `echo CORRAL_NODE=${NODE_IN} >> /etc/default/corral`,
      `echo ${masterPort} > /etc/corral/master/port`,
      `echo ${agentPort} > /etc/corral/agent/port`,
      `echo 127.0.0.1:${masterPort} > /etc/corral/agent/master`,
      "echo 'cpus:2;mem:512;disk:1000;ports:[31000-31010]' > /etc/corral/agent/resources",
      'corral --version',
      'systemctl enable --now corral-master.service corral-agent.service',
    ].join(' && '),
  );
  const master = `127.0.0.1:${masterPort}`;
  await waitUntil(
    async () => ((await getJson(`http://${master}/master/slaves`).catch(() => ({ slaves: [] }))).slaves as Json[]).some((a) => a.active),
    'the agent registered',
    60_000,
  ).catch((e: Error) => {
    throw new Error(
      `${e.message}\n${c.sh('systemctl status --no-pager corral-master corral-agent 2>&1; journalctl --no-pager -n 40 -u corral-master -u corral-agent 2>&1 || true')}`,
    );
  });
  // The master runs as its own user, the agent as root.
  const masterPid = c.sh('systemctl show -p MainPID --value corral-master').trim();
  t.is(c.sh(`ps -o user= -p ${masterPid}`).trim(), 'corral');
  const agentPid1 = c.sh('systemctl show -p MainPID --value corral-agent').trim();
  t.is(c.sh(`ps -o user= -p ${agentPid1}`).trim(), 'root');

  // A long task, through a framework that survives a master restart (failover_timeout) and
  // whose tasks survive an agent restart (checkpoint: without it, as in Mesos, they do not).
  const s1 = await Scheduler.subscribe(master, frameworkInfo({ name: 'systemd-upgrade', failover_timeout: 3600, checkpoint: true }));
  schedulers.push(s1);
  t.is(s1.status, 200);
  await s1.waitFor((e) => e.type === 'SUBSCRIBED');
  s1.frameworkId = s1.events.find((e) => e.type === 'SUBSCRIBED')!.subscribed.framework_id.value;
  const placed = await s1.launch([commandTask('long', 'exec sleep 4242')], { timeoutMs: 60_000 });
  await s1.waitFor((e) => e.type === 'UPDATE' && e.update.status.state === 'TASK_RUNNING', 60_000, 'TASK_RUNNING');
  const taskPid = c.sh("pgrep -x -f 'sleep 4242'").trim();
  t.regex(taskPid, /^\d+$/);

  // Upgrade over it: postinst restarts the running services on the new code.
  const install2 = c.sh(`dpkg -i /root/debs/${name2} 2>&1`);
  t.regex(install2, /Unpacking corral \(0\.1\.0-2\) over \(0\.1\.0-1\)/);
  t.regex(c.sh("dpkg-query -W -f='${Version}' corral"), /^0\.1\.0-2$/);
  const agentPid2 = c.sh('systemctl show -p MainPID --value corral-agent').trim();
  t.not(agentPid2, agentPid1, 'the agent restarted');
  t.is(c.sh('systemctl is-active corral-agent corral-master').trim(), 'active\nactive');
  // The task outlived the agent (KillMode=process) and the new agent recovered it.
  t.is(c.sh("pgrep -x -f 'sleep 4242'").trim(), taskPid);
  // Its "agent started" line (the unit's, not by _PID: the journal may attribute a stream's lines otherwise).
  const journal = (): string => c.sh('journalctl --no-pager -o cat -u corral-agent || true');
  await waitUntil(() => /"recoveredExecutors":1\b/.test(journal()), 'the new agent to recover the task', 60_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${journal().slice(-4000)}`);
  });
  s1.close();
  // The upgrade restarted the master too: it answers once it has recovered its registry (its
  // port refuses connections until it listens, and it answers 503 until it leads).
  await waitUntil(async () => (await getJson(`http://${master}/master/state`).catch(() => undefined)) !== undefined, 'the restarted master to answer', 60_000);
  const s2 = await Scheduler.subscribe(master, frameworkInfo({ name: 'systemd-upgrade', failover_timeout: 3600, checkpoint: true }), {
    frameworkId: s1.frameworkId,
  });
  schedulers.push(s2);
  t.is(s2.status, 200);
  await waitUntil(
    async () => {
      const state = await getJson(`http://${master}/master/state`).catch(() => undefined);
      const fw = (state?.frameworks as Json[] | undefined)?.find((f) => f.id === s1.frameworkId);
      return (fw?.tasks as Json[] | undefined)?.some((x) => x.id === 'long' && x.state === 'TASK_RUNNING') ?? false;
    },
    'the task running in the new master’s state',
    60_000,
  );
  t.false(s1.events.some((e) => e.type === 'UPDATE' && e.update.status.task_id.value === 'long' && e.update.status.state !== 'TASK_RUNNING'));
  await s2.kill('long', placed.get('long'));
  await s2.waitFor((e) => e.type === 'UPDATE' && e.update.status.state === 'TASK_KILLED', 60_000, 'TASK_KILLED');

  // Remove: the services stop and are disabled; configuration and state stay.
  c.sh('dpkg -r corral');
  t.is(c.sh('systemctl is-active corral-master corral-agent || true').trim(), 'inactive\ninactive');
  t.false(existsSync(join(root, 'usr/lib/corral')));
  t.true(existsSync(join(root, 'etc/corral/agent/port')));
  t.true(existsSync(join(root, 'var/lib/corral/agent')));
  // Purge: they go too.
  c.sh('dpkg -P corral');
  t.false(existsSync(join(root, 'etc/corral')));
  t.false(existsSync(join(root, 'var/lib/corral')));
  t.false(existsSync(join(root, 'lib/systemd/system/corral-agent.service')));
  t.is(c.sh('systemctl list-units --all --no-legend "corral*" || true').trim(), '');
});
