/**
 * A whole cluster over TLS, as `corral master|agent|execute` build it (lib/cli/daemons.ts) with
 * the LIBPROCESS_SSL_* settings of the test's certificates and REQUIRE_CERT: the agent
 * registers over TLS, a framework (HttpClient with a client certificate) gets offers whose url
 * says https, runs a command task and a custom executor that reaches the agent over TLS with
 * only the environment the agent gave it; `corral execute` runs a task; openssl s_client sees
 * TLS with a verified chain on both ports; plain HTTP and certificate-less clients are refused.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFlags } from '../../lib/agent/flags.ts';
import { startAgent, startMaster, type RunningAgent, type RunningMaster } from '../../lib/cli/daemons.ts';
import { execute } from '../../lib/cli/execute.ts';
import { parseFlags } from '../../lib/common/flags.ts';
import { silentLogger } from '../../lib/common/log.ts';
import { masterFlags } from '../../lib/master/flags.ts';
import { HttpClient, TransportError, type ClientStream } from '../../lib/transport/index.ts';
import { loadTlsConfig, type TlsConfig } from '../../lib/transport/tls_config.ts';
import { killEverythingUnder } from '../helpers/cluster.ts';
import { EXECUTOR } from '../helpers/executor_script.ts';
import { makePki, tlsEnv, type Pki } from './tls_fixture.ts';

type Json = any;

let pki: Pki;
let workDir: string;
let master: RunningMaster | undefined;
let agent: RunningAgent | undefined;
let daemonTls: TlsConfig;

test.before(async () => {
  pki = makePki();
  workDir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-tls-`));
  daemonTls = loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_REQUIRE_CERT: 'true' }))!;
  const m = parseFlags(masterFlags, { argv: ['--ip=127.0.0.1', '--port=0', '--registry=in_memory', '--allocation_interval=20ms'], env: {} });
  master = await startMaster(m.values, m.text, silentLogger, { tls: daemonTls });
  const a = parseFlags(agentFlags, {
    argv: [
      `--master=127.0.0.1:${master.port}`,
      '--ip=127.0.0.1',
      '--port=0',
      `--work_dir=${join(workDir, 'agent')}`,
      '--hostname=tls-agent',
      '--resources=cpus:4;mem:4096;disk:1000',
      '--registration_backoff_factor=20ms',
    ],
    env: {},
  });
  agent = await startAgent(a.values, a.text, silentLogger, { tls: daemonTls });
  await agent.registered;
});

test.after.always(async () => {
  await agent?.stop();
  await master?.stop();
  if (workDir) {
    killEverythingUnder(workDir);
    rmSync(workDir, { recursive: true, force: true });
  }
  pki?.remove();
});

/** A framework over the v1 scheduler API, as a client library with TLS would be. */
class Framework {
  readonly events: Json[] = [];
  /** Acknowledgements that failed (shown when a wait times out). */
  readonly ackErrors: string[] = [];
  private wake: (() => void) | undefined;
  frameworkId = '';
  private constructor(
    private readonly client: HttpClient,
    private readonly url: string,
    private readonly stream: ClientStream,
  ) {
    void (async () => {
      for await (const r of stream.records) {
        const e = JSON.parse(r.toString()) as Json;
        if (e.type === 'SUBSCRIBED') this.frameworkId = e.subscribed.framework_id.value;
        if (e.type === 'UPDATE' && e.update.status.uuid) {
          const s = e.update.status;
          // As a client library does: a failed acknowledgement is tried again (else the agent
          // holds the task's next update until it resends this one, 10 s later).
          const ack = { type: 'ACKNOWLEDGE', acknowledge: { agent_id: s.agent_id, task_id: s.task_id, uuid: s.uuid } };
          void (async () => {
            for (let i = 0; i < 3; i++) {
              try {
                return await this.call(ack);
              } catch (err) {
                this.ackErrors.push(`${s.task_id.value}: ${(err as Error).message}`);
                await new Promise((r) => setTimeout(r, 200));
              }
            }
          })();
        }
        this.events.push(e);
        this.wake?.();
      }
    })().catch(() => {});
  }

  static async subscribe(client: HttpClient, masterPort: number): Promise<Framework> {
    const url = `${client.scheme}://127.0.0.1:${masterPort}/api/v1/scheduler`;
    const stream = await client.openStream({
      url,
      body: { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'tls', failover_timeout: 0 } } },
    });
    if (stream.status !== 200) throw new Error(`subscribe: ${stream.status} ${stream.text}`);
    const f = new Framework(client, url, stream);
    f.streamId = String(stream.headers['mesos-stream-id']);
    return f;
  }

  streamId = '';

  async call(body: Json): Promise<void> {
    const r = await this.client.request({
      url: this.url,
      headers: { 'Mesos-Stream-Id': this.streamId },
      body: { framework_id: { value: this.frameworkId }, ...body },
    });
    if (r.status !== 202) throw new Error(`${body.type}: ${r.status} ${r.text()}`);
  }

  async next(pred: (e: Json) => boolean, what: string, ms = 40_000): Promise<Json> {
    const end = Date.now() + ms;
    let seen = 0;
    for (;;) {
      for (; seen < this.events.length; seen++) if (pred(this.events[seen])) return this.events.splice(seen, 1)[0];
      if (Date.now() > end) {
        const updates = this.events.filter((e) => e.type === 'UPDATE').map((e) => `${e.update.status.task_id.value}:${e.update.status.state}`);
        throw new Error(
          `timed out waiting for ${what}; got ${this.events.map((e) => e.type).join(' ')} (updates ${updates.join(', ')}; failed acknowledgements: ${this.ackErrors.join('; ') || 'none'})`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  close(): void {
    this.stream.close();
  }
}

const resources = [
  { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
  { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
];

test('a framework runs a command task and a custom executor over TLS; offers point at https', async (t) => {
  const client = new HttpClient({ tls: loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_VERIFY_CERT: 'true' }, pki.client))! });
  t.teardown(() => client.close());
  const fw = await Framework.subscribe(client, master!.port);
  t.teardown(() => fw.close());
  await fw.next((e) => e.type === 'SUBSCRIBED', 'SUBSCRIBED');

  const offers = (await fw.next((e) => e.type === 'OFFERS', 'offers')).offers.offers as Json[];
  const offer = offers[0];
  t.is(offer.url.scheme, 'https');
  t.is(offer.url.address.port, agent!.port);

  const executorFile = join(workDir, 'executor.mjs');
  writeFileSync(executorFile, EXECUTOR);
  await fw.call({
    type: 'ACCEPT',
    accept: {
      offer_ids: [offer.id],
      operations: [
        {
          type: 'LAUNCH',
          launch: {
            task_infos: [
              { name: 'cmd', task_id: { value: 'cmd' }, agent_id: offer.agent_id, resources, command: { value: 'echo hello over TLS', shell: true } },
              {
                name: 'custom',
                task_id: { value: 'custom' },
                agent_id: offer.agent_id,
                resources,
                executor: {
                  executor_id: { value: 'tls-executor' },
                  name: 'tls-executor',
                  command: { value: `${JSON.stringify(process.execPath)} ${JSON.stringify(executorFile)}`, shell: true },
                  resources,
                },
              },
            ],
          },
        },
      ],
      filters: { refuse_seconds: 0 },
    },
  });
  const finished = (id: string) =>
    fw.next(
      (e) =>
        e.type === 'UPDATE' &&
        e.update.status.task_id.value === id &&
        ['TASK_FINISHED', 'TASK_FAILED', 'TASK_LOST', 'TASK_ERROR'].includes(e.update.status.state),
      `the end of ${id}`,
    );
  const [cmd, custom] = await Promise.all([finished('cmd'), finished('custom')]);
  t.is(cmd.update.status.state, 'TASK_FINISHED', JSON.stringify(cmd));
  t.is(custom.update.status.state, 'TASK_FINISHED', JSON.stringify(custom));
  t.is(custom.update.status.message, 'over TLS');
  t.is(custom.update.status.source, 'SOURCE_EXECUTOR');
});

test('corral execute speaks TLS to the master', async (t) => {
  const lines: string[] = [];
  const clientTls = loadTlsConfig(tlsEnv(pki, { LIBPROCESS_SSL_VERIFY_CERT: 'true' }, pki.client))!;
  const code = await execute({
    master: `127.0.0.1:${master!.port}`,
    name: 'tls-execute',
    command: 'exit 7',
    resources: 'cpus:0.1;mem:32',
    role: '*',
    timeoutMs: 30_000,
    tls: clientTls,
    print: (l) => lines.push(l),
  });
  t.is(code, 7, lines.join('\n'));
  t.true(lines.some((l) => l.startsWith('Received status update TASK_RUNNING')));
});

/** Run a command without blocking this process (the daemons under test live in it). */
function run(cmd: string, args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, out }));
  });
}

test('openssl s_client sees TLS with a verified chain on the master and agent ports', async (t) => {
  for (const port of [master!.port, agent!.port]) {
    const { status, out } = await run('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-CAfile',
      pki.ca.cert,
      '-cert',
      pki.client.cert,
      '-key',
      pki.client.key,
      '-verify_return_error',
      '-brief',
    ]);
    t.is(status, 0, out);
    t.regex(out, /Verification: OK/);
    t.regex(out, /Protocol version: TLSv1\.3/);
  }
});

test('plain HTTP and clients without a certificate are refused on every port', async (t) => {
  const plain = new HttpClient({ timeoutMs: 5000 });
  t.teardown(() => plain.close());
  for (const port of [master!.port, agent!.port]) {
    const e = await plain.request({ url: `http://127.0.0.1:${port}/master/state` }).then(
      () => undefined,
      (x: unknown) => x,
    );
    t.true(e instanceof TransportError, String(e));
    const noCert = await new Promise<string>((resolve) => {
      const req = https.request(`https://127.0.0.1:${port}/state`, { ca: pki.read(pki.ca.cert), agent: false }, (res) => resolve(`answered ${res.statusCode}`));
      req.on('error', (x) => resolve((x as NodeJS.ErrnoException).code ?? x.message));
      req.end();
    });
    t.notRegex(noCert, /^answered/);
  }
});
