/**
 * `corral doctor` on this machine, run as an operator runs it (bin/corral.js): one line per
 * check (OK, WARN or FAIL, the check, what was found, and for a FAIL how to fix it), exit code
 * 0 when nothing fails and 1 when something does; the daemons' flags checked by their rules
 * (a bad one: one line, exit 2). The checks that depend on the flags are driven to FAIL for
 * real: a port in use, a work_dir on /proc, ZooKeeper not listening, a TLS key that is not the
 * certificate's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { runNodeScript, type CorralRun } from '../helpers/corral_run.ts';
import { hasOpenssl, makePki, tlsEnv, type Pki } from '../transport/tls_fixture.ts';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'corral.js');
const doctor = (args: readonly string[], env: Record<string, string> = {}): Promise<CorralRun> =>
  runNodeScript(BIN, ['doctor', ...args], { env, timeoutMs: 30_000 });

let dir: string;
let busy: Server;
let busyPort: number;
let free: Server;
let pki: Pki | undefined;

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'corral-doctor-'));
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;
  free = createServer((s) => s.destroy()); // stands for a ZooKeeper server: it accepts connections
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
  if (hasOpenssl()) pki = makePki();
});

test.after.always(() => {
  busy?.close();
  free?.close();
  pki?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The check lines by name (a name may have two lines: the last wins), and the summary. */
function checks(r: CorralRun): { lines: Map<string, string>; summary: string } {
  const out = r.stdout.trimEnd().split('\n');
  const summary = out.pop()!;
  const lines = new Map<string, string>();
  for (const l of out) {
    const m = /^(OK|WARN|FAIL) +([a-z_ ]+): (.+)$/.exec(l);
    if (!m) throw new Error(`not a check line: ${l}`);
    if (m[1] === 'FAIL' && !m[3]!.includes(' — fix: ')) throw new Error(`a FAIL without a fix: ${l}`);
    lines.set(m[2]!, l);
  }
  return { lines, summary };
}

test('corral doctor: one line per check, exit code 0 exactly when nothing fails', async (t) => {
  const r = await doctor([]);
  const { lines, summary } = checks(r);
  t.is(r.stderr, '');
  for (const name of ['node', 'kernel', 'cgroups', 'namespaces', 'native addon', 'supervisor', 'tls', 'clock']) t.true(lines.has(name), name);
  t.regex(lines.get('node')!, /^OK +node: Node\.js 2\d\./);
  t.regex(lines.get('native addon')!, /^OK +native addon: .*corral_native\.node loads; network isolator (built in|not built in)$/);
  t.regex(lines.get('supervisor')!, /^OK +supervisor: .*corral-containerizer runs$/);
  const failed = [...lines.values()].filter((l) => l.startsWith('FAIL')).length;
  t.is(r.code, failed === 0 ? 0 : 1, r.stdout);
  t.is(summary, failed === 0 ? 'This host can run a Corral agent (with its default flags) and a master.' : `${failed} check(s) failed.`);
});

test('corral doctor agent with flags that cannot run here: each named, exit 1', async (t) => {
  const r = await doctor([
    'agent',
    `--master=zk://127.0.0.1:${busyPort + 0},127.0.0.1:1,127.0.0.1:2/corral`,
    '--work_dir=/proc/corral-doctor',
    '--ip=127.0.0.1',
    `--port=${busyPort}`,
  ]);
  const { lines } = checks(r);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(lines.get('port')!, new RegExp(`^FAIL port: cannot listen on 127\\.0\\.0\\.1:${busyPort}: EADDRINUSE — fix: `));
  t.regex(lines.get('work_dir')!, /^FAIL work_dir: --work_dir: '\/proc\/corral-doctor' is on the kernel's proc filesystem/);
  t.regex(lines.get('zookeeper')!, /^FAIL zookeeper: .*127\.0\.0\.1:1 ECONNREFUSED.*fewer than a majority/);
});

test('corral doctor master with flags that can run here: port, work_dir and ZooKeeper OK', async (t) => {
  const zk = (free.address() as { port: number }).port;
  const r = await doctor(['master', `--work_dir=${join(dir, 'master')}`, '--ip=127.0.0.1', '--port=0', `--zk=zk://127.0.0.1:${zk}/corral`]);
  const { lines } = checks(r);
  t.regex(lines.get('port')!, /^OK +port: /);
  t.regex(lines.get('work_dir')!, new RegExp(`^(OK|WARN) +work_dir: ${join(dir, 'master')} can be written \\(`));
  t.regex(lines.get('zookeeper')!, new RegExp(`^OK +zookeeper: zk://127\\.0\\.0\\.1:${zk}/corral: 127\\.0\\.0\\.1:${zk} reachable$`));
  t.false(lines.has('supervisor'), 'a master needs no supervisor');
});

test('corral doctor: TLS files that match are OK; a key of another certificate FAILs', async (t) => {
  if (!pki) return t.pass('no openssl here: skipped');
  const good = checks(await doctor([], tlsEnv(pki))).lines.get('tls')!;
  t.regex(good, new RegExp(`^OK +tls: ${pki.server.cert} \\(.*\\) matches ${pki.server.key}; valid until `));
  const bad = await doctor([], tlsEnv(pki, { LIBPROCESS_SSL_KEY_FILE: pki.client.key }));
  t.is(bad.code, 1);
  t.regex(checks(bad).lines.get('tls')!, /^FAIL tls: .* — fix: /);
});

test('corral doctor with a bad flag: one line naming it, exit 2', async (t) => {
  const r = await doctor(['agent', '--master=127.0.0.1:5050', '--work_dir=/tmp/x', '--port=abc']);
  t.is(r.code, 2);
  t.is(r.stdout, '');
  t.is(r.stderr.trim(), "corral doctor: --port: 'abc' is not a port number (0-65535)");
});

test('corral doctor master: the address it publishes; on 0.0.0.0 with --zk and no --advertise_ip, a warning', async (t) => {
  const zk = `--zk=zk://127.0.0.1:${(free.address() as { port: number }).port}/corral`;
  const bare = checks(await doctor(['master', zk, '--ip=0.0.0.0', '--port=0', `--work_dir=${dir}/m1`]));
  t.regex(
    bare.lines.get('advertised address')!,
    /^WARN +advertised address: 127\.0\.0\.1:0: other hosts cannot reach the master there — fix: .*--advertise_ip/,
  );
  const nat = checks(await doctor(['master', zk, '--ip=0.0.0.0', '--port=0', '--advertise_ip=10.1.2.3', '--advertise_port=15050', `--work_dir=${dir}/m2`]));
  t.regex(nat.lines.get('advertised address')!, /^OK +advertised address: 10\.1\.2\.3:15050$/);
});
