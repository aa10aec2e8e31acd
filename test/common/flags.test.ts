import test from 'ava';
import {
  FlagError,
  didYouMean,
  flag,
  optionalFlag,
  flagsHelp,
  formatDuration,
  parseBool,
  parseBytes,
  parseDuration,
  parseFlags,
  parsePort,
  str,
} from '../../lib/common/flags.ts';

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
  t.throws(
    () =>
      parseFlags(table, {
        argv: ['--work_dir=file:///x'],
        env: {},
        readFile: () => {
          throw new Error('ENOENT');
        },
      }),
    { message: /--work_dir: cannot read file:\/\/\/x: ENOENT/ },
  );
});

test('a duration flag takes any length Mesos does (up to 2^63-1 ns, about 292 years) and refuses longer ones, naming the flag', (t) => {
  t.is(parseDuration('30days'), 30 * 86_400_000);
  t.is(parseDuration('15000weeks'), 15_000 * 604_800_000);
  for (const text of ['16000weeks', `${'9'.repeat(400)}ms`])
    t.throws(() => parseDuration(text), { message: /is out of range \(a duration is at most about 292 years\)/ });
  t.throws(() => parseFlags(table, { argv: ['--work_dir=/w', '--allocation_interval=20000weeks'], env: {} }), {
    message: /--allocation_interval: .*out of range/,
  });
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

test('typed parsers: durations finite, within the Mesos range and > 0 where asked; integers and enumerations in range', async (t) => {
  const { intIn, oneOf, parseHostPort, parseIp, parsePositiveDuration } = await import('../../lib/common/flags.ts');
  // Timers longer than Node's 24.8 days are chained by the clock, so such durations are taken.
  t.is(parseDuration('25days'), 25 * 86_400_000);
  t.throws(() => parseDuration(`${'9'.repeat(400)}secs`), { message: /out of range/ });
  t.is(parseDuration('0secs'), 0);
  t.throws(() => parsePositiveDuration('0secs'), { message: /'0secs' must be more than 0/ });
  t.is(intIn(1, 10)('10'), 10);
  for (const bad of ['abc', '-1', '1e3', '1.5', '11', '', 'NaN', 'Infinity'])
    t.throws(() => intIn(1, 10)(bad), { message: /is not an integer from 1 to 10/ }, bad);
  t.is(oneOf(['INFO', 'DEBUG'], { upper: true })('debug'), 'DEBUG');
  t.throws(() => oneOf(['INFO', 'DEBUG'], { upper: true })('LOUD'), { message: /'LOUD' is not one of INFO, DEBUG/ });
  t.is(parseIp('10.0.0.1'), '10.0.0.1');
  t.is(parseIp('::1'), '::1');
  for (const bad of ['256.0.0.1', 'localhost', '1.2.3']) t.throws(() => parseIp(bad), { message: /not an IP address/ }, bad);
  t.is(parseHostPort('m:5050'), 'm:5050');
  t.throws(() => parseHostPort('m:70000'), { message: /not host:port/ });
  t.throws(() => parseBytes(`${'9'.repeat(400)}TB`), { message: /too large/ });
});

test('an empty value is refused unless the flag allows it; a parser naming the flag is not named twice; file:// sources are kept', (t) => {
  t.throws(() => parseFlags(table, { argv: ['--work_dir='], env: {} }), { message: '--work_dir: is empty' });
  t.throws(() => parseFlags(table, { argv: ['--work_dir=/a'], env: { CORRAL_CLUSTER: ' ' } }), { message: 'CORRAL_CLUSTER (--cluster): is empty' });
  const named = {
    x: flag({
      help: 'x',
      default: '',
      allowEmpty: true,
      parse: (v: string) => {
        if (v === 'bad') throw new Error('--x: is bad');
        return v;
      },
    }),
  };
  t.is(parseFlags(named, { argv: ['--x='], env: {} }).values.x, '');
  t.throws(() => parseFlags(named, { argv: ['--x=bad'], env: {} }), { message: '--x: is bad' });
  const f = parseFlags(table, { argv: ['--work_dir=file:///etc/wd'], env: {}, readFile: () => '/srv/corral\n' });
  t.deepEqual({ ...f.files }, { work_dir: '/etc/wd' });
});

test('flag files lose to variables and the command line; an unknown file names its path; an unknown CORRAL_ variable is refused, MESOS_ warned', (t) => {
  const table = { port: flag({ help: 'p', default: 1, parse: parsePort }), cluster: optionalFlag({ help: 'c', parse: str }) };
  const files = { port: { value: '7', where: '/etc/x/port:1' }, cluster: { value: 'f', where: '/etc/x/cluster:2' } };
  const p = parseFlags(table, { argv: ['--cluster=a'], env: { CORRAL_PORT: '8' }, files });
  t.is(p.values.port, 8);
  t.is(p.values.cluster, 'a');
  t.is(parseFlags(table, { argv: [], env: {}, files }).values.port, 7);
  t.throws(() => parseFlags(table, { argv: [], env: {}, files: { port: { value: 'x', where: '/etc/x/port:3' } } }), {
    message: "/etc/x/port:3 (--port): 'x' is not a port number (0-65535)",
  });
  t.throws(() => parseFlags(table, { argv: [], env: {}, files: { prot: { value: '1', where: '/etc/x/prot:1' } } }), {
    message: "/etc/x/prot: 'prot' is not a flag of this command (did you mean port?)",
  });
  const knownEnv = new Set(['work_dir']);
  t.throws(() => parseFlags(table, { argv: [], env: { CORRAL_PROT: '1' }, knownEnv }), { message: /^CORRAL_PROT: no such flag \(did you mean port\?\)/ });
  const ok = parseFlags(table, { argv: [], env: { CORRAL_WORK_DIR: '/x', MESOS_CLUSTR: 'y' }, knownEnv });
  t.deepEqual(ok.warnings, ['MESOS_CLUSTR is not a flag of this command and is ignored (did you mean cluster?)']);
});

test('did you mean: one or two edits, a swap counting one', (t) => {
  t.is(didYouMean('resource', ['resources', 'port']), ' (did you mean resources?)');
  t.is(didYouMean('prot', ['port', 'ip']), ' (did you mean port?)');
  t.is(didYouMean('zzzz', ['port', 'ip']), '');
});
