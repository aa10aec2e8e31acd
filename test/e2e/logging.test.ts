/**
 * The processes' logger (lib/cli/logger.ts): JSON lines with ISO times, host and pid, errors with
 * stack and cause; readable text with dates; journald priorities (the level changed at run time is
 * test/common/log_level.test.ts);
 * and, through real `corral` processes, an error that journald files at priority 3 and a clean
 * SIGINT that logs no warning.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../lib/cli/logger.ts';
import { ValidationError } from '../../lib/common/errors.ts';
import { runCorral, runNodeScript } from '../helpers/corral_run.ts';
import { clearLeftoverDirs } from '../helpers/tmp_names.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test.before(() => clearLeftoverDirs());

function capture(opts: Partial<Parameters<typeof createLogger>[0]> = {}) {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', format: 'json', journald: false, ...opts, write: (l) => lines.push(l) });
  return { log, lines };
}

test('JSON lines carry the level, an ISO time, the pid and host, the bindings and the message', (t) => {
  const { log, lines } = capture();
  log.child({ role: 'master' }).info({ taskId: 't1' }, 'task t1 is now TASK_RUNNING');
  log.debug('not written at INFO');
  t.is(lines.length, 1);
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  t.is(rec.level, 'info');
  t.regex(String(rec.time), ISO);
  t.is(rec.pid, process.pid);
  t.is(rec.hostname, hostname());
  t.is(rec.role, 'master');
  t.is(rec.taskId, 't1');
  t.is(rec.msg, 'task t1 is now TASK_RUNNING');
});

test('an error is written with its type, message, stack and cause', (t) => {
  const { log, lines } = capture();
  const cause = new Error('EACCES: permission denied');
  log.error({ err: new ValidationError('--work_dir', 'cannot be created', { cause }) }, 'the agent could not start');
  const rec = JSON.parse(lines[0]!) as { err: { type: string; message: string; stack: string; cause: { message: string; stack: string } } };
  t.is(rec.err.type, 'ValidationError');
  t.is(rec.err.message, '--work_dir: cannot be created');
  t.regex(rec.err.stack, /logging\.test\.ts/);
  t.is(rec.err.cause.message, 'EACCES: permission denied');
  t.regex(rec.err.cause.stack, /^Error: EACCES/);
});

test('text lines have the date and time, the level and the fields; colour only when asked', (t) => {
  const { log, lines } = capture({ format: 'text', colour: false });
  log.warn({ agentId: 'S1', reason: 'two words' }, 'agent S1 is unreachable');
  t.regex(lines[0]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARN {2}agent S1 is unreachable {2}agentId=S1 reason="two words"$/);
  const coloured = capture({ format: 'text', colour: true });
  coloured.log.error('boom');
  t.true(coloured.lines[0]!.includes('\x1b[31mERROR\x1b[0m'));
});

test('under journald every line starts with its syslog priority', (t) => {
  const { log, lines } = capture({ journald: true, level: 'debug' });
  log.error('e');
  log.warn('w');
  log.info('i');
  log.debug('d');
  t.deepEqual(
    lines.map((l) => l.slice(0, 3)),
    ['<3>', '<4>', '<6>', '<7>'],
  );
  t.is((JSON.parse(lines[0]!.slice(3)) as { msg: string }).msg, 'e');
  const text = capture({ journald: true, format: 'text', colour: false });
  text.log.error('e');
  t.regex(text.lines[0]!, /^<3>\d{4}-/);
});

test('a crash in a real daemon reaches journald at priority 3, with its stack', async (t) => {
  const script = join(ROOT, 'test', 'helpers', 'fixtures', 'rejecting_corral.ts');
  const e = await t.throwsAsync(
    runNodeScript(script, ['master', '--registry=in_memory', '--ip=127.0.0.1', '--port=0'], { env: { JOURNAL_STREAM: '8:12345' } }),
  );
  const line = e!.message.split('\n').find((l) => l.startsWith('<3>{'));
  t.truthy(line, e!.message);
  const rec = JSON.parse(line!.slice(3)) as { level: string; err: { message: string; stack: string } };
  t.is(rec.level, 'error');
  t.is(rec.err.message, 'a deliberate rejection nobody handles');
  t.regex(rec.err.stack, /rejecting_corral\.ts/);
  t.true(e!.message.includes('<6>{"level":"info"'), 'the INFO lines carry <6>');
});

test('a clean SIGTERM or Ctrl-C logs the stop at INFO and no warning', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-logging-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await runCorral(['local', '--ip=127.0.0.1', '--port=0', `--work_dir=${dir}`, '--resources=cpus:1;mem:256;disk:100;ports:[31000-31010]'], {
    until: /registered with the master/,
  });
  t.is(r.code, 0, r.stderr);
  const recs = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; msg: string });
  t.truthy(
    recs.find((l) => l.level === 'info' && l.msg === 'received SIGTERM; stopping'),
    r.stderr,
  );
  t.deepEqual(
    recs.filter((l) => l.level !== 'info' && l.level !== 'debug'),
    [],
  );
});
