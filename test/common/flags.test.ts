import test from 'ava';
import { FlagError, flag, optionalFlag, flagsHelp, formatDuration, parseBool, parseBytes, parseDuration, parseFlags, parsePort, str } from '../../lib/common/flags.ts';

const table = {
  port: flag({ help: 'port', default: 5050, parse: parsePort }),
  work_dir: flag({ help: 'dir', required: true, parse: str }),
  quiet: flag({ help: 'quiet', default: false, boolean: true, parse: parseBool }),
  allocation_interval: flag({ help: 'interval', default: 1000, parse: parseDuration, show: formatDuration }),
  cluster: optionalFlag<string>({ help: 'name', parse: str }),
};

test('command line beats CORRAL_ which beats MESOS_; defaults fill the rest; values are frozen', (t) => {
  const f = parseFlags(table, { argv: ['--work_dir=/a', '--quiet', 'extra'], env: { CORRAL_PORT: '6000', MESOS_PORT: '7000', MESOS_CLUSTER: 'prod' } });
  const cluster: string | undefined = f.values.cluster;
  const port: number = f.values.port;
  t.is(cluster, 'prod');
  t.is(port, 6000);
  t.deepEqual({ ...f.values }, { port: 6000, work_dir: '/a', quiet: true, allocation_interval: 1000, cluster: 'prod' });
  t.deepEqual(f.rest, ['extra']);
  t.is(f.text.allocation_interval, '1secs');
  t.true(Object.isFrozen(f.values));
  const g = parseFlags(table, { argv: ['--work_dir=/a', '--port=1', '--no-quiet'], env: { CORRAL_PORT: '6000', CORRAL_QUIET: 'true' } });
  t.is(g.values.port, 1);
  t.false(g.values.quiet);
});

test('bad flags are one clear error naming the flag', (t) => {
  const bad = (argv: string[], re: RegExp) => {
    const e = t.throws(() => parseFlags(table, { argv, env: {} }), { instanceOf: FlagError });
    t.regex(e!.message, re);
  };
  bad(['--work_dir=/a', '--port=70000'], /^--port: '70000' is not a port number/);
  bad(['--work_dir=/a', '--nope=1'], /^--nope: unknown flag/);
  bad([], /^--work_dir: is required$/);
  bad(['--work_dir'], /^--work_dir: needs a value/);
  bad(['--work_dir=/a', '--allocation_interval=5 parsecs'], /^--allocation_interval: '5 parsecs' is not a duration/);
  bad(['--work_dir=/a', '--quiet=maybe'], /^--quiet: 'maybe' is not a boolean/);
});

test('file:// values are read through the given reader', (t) => {
  const f = parseFlags(table, { argv: ['--work_dir=file:///etc/wd'], env: {}, readFile: (p) => (p === '/etc/wd' ? '/srv/corral\n' : '') });
  t.is(f.values.work_dir, '/srv/corral');
  t.throws(() => parseFlags(table, { argv: ['--work_dir=file:///x'], env: {}, readFile: () => { throw new Error('ENOENT'); } }), { message: /--work_dir: cannot read file:\/\/\/x: ENOENT/ });
});

test('a duration flag takes any length Mesos does (up to 2^63-1 ns, about 292 years) and refuses longer ones, naming the flag', (t) => {
  t.is(parseDuration('30days'), 30 * 86_400_000);
  t.is(parseDuration('15000weeks'), 15_000 * 604_800_000);
  for (const text of ['16000weeks', `${'9'.repeat(400)}ms`]) t.throws(() => parseDuration(text), { message: /is out of range \(a duration is at most about 292 years\)/ });
  t.throws(() => parseFlags(table, { argv: ['--work_dir=/w', '--allocation_interval=20000weeks'], env: {} }), { message: /--allocation_interval: .*out of range/ });
});

test('Mesos durations and sizes', (t) => {
  t.is(parseDuration('5secs'), 5000);
  t.is(parseDuration('15mins'), 900_000);
  t.is(parseDuration('250ms'), 250);
  t.is(parseDuration('1weeks'), 604_800_000);
  t.is(parseDuration('0.5secs'), 500);
  t.is(parseBytes('2GB'), 2 * 1024 ** 3);
  t.is(parseBytes('512MB'), 512 * 1024 ** 2);
  t.throws(() => parseBytes('2 gigs'));
  t.is(formatDuration(75_000), '75secs');
  t.regex(flagsHelp(table), /--allocation_interval=VALUE \(default: 1secs\)/);
});
