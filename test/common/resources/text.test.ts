import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { ValidationError } from '../../../lib/common/errors.ts';
import { resource, validateResource } from '../../../lib/common/resources/resource.ts';
import { Resources } from '../../../lib/common/resources/resources.ts';
import { checkAgentFlagResources, formatResourcesText, parseResourcesText } from '../../../lib/common/resources/text.ts';

const P = (text: string, role?: string) => parseResourcesText(text, role);

/** The text is rejected with a ValidationError whose message names the token and the reason. */
function rejects(t: ExecutionContext, text: string, token: string, reason: string): void {
  const e = t.throws(() => P(text), { instanceOf: ValidationError }, text);
  t.true(e?.message.includes(token), `${JSON.stringify(e?.message)} should name the token ${JSON.stringify(token)}`);
  t.true(e?.message.includes(reason), `${JSON.stringify(e?.message)} should give the reason ${JSON.stringify(reason)}`);
}

test('the spec example: a static reservation, unreserved memory and ports', (t) => {
  const r = P('cpus(role):4;mem:1024;ports:[31000-32000]');
  t.deepEqual(r.toArray(), [
    { name: 'cpus', type: 'SCALAR', scalar: 4, role: 'role' },
    { name: 'mem', type: 'SCALAR', scalar: 1024, role: '*' },
    { name: 'ports', type: 'RANGES', ranges: [{ begin: 31000, end: 32000 }], role: '*' },
  ]);
  t.true(r.staticallyReserved().equals(Resources.of([resource('cpus', 4, { role: 'role' })])));
  t.true(r.dynamicallyReserved().isEmpty());
});

test('resources without a role get the default role', (t) => {
  const r = P('cpus:4;mem(*):1;disk(other):2', 'ads');
  t.deepEqual(
    r.toArray().map((x) => [x.name, x.role]),
    [
      ['cpus', 'ads'],
      ['mem', '*'],
      ['disk', 'other'],
    ],
  );
  t.is(P('cpus:1').toArray()[0]!.role, '*', 'the default default role is *');
});

test('spaces inside values are removed; name and role are trimmed', (t) => {
  const r = P(' cpus ( ads ) : 1 . 5 ; ports : [ 1 - 10 , 20 - 30 ] ; bugs : { a , b c } ');
  t.deepEqual(r.toArray(), [
    { name: 'cpus', type: 'SCALAR', scalar: 1.5, role: 'ads' },
    {
      name: 'ports',
      type: 'RANGES',
      ranges: [
        { begin: 1, end: 10 },
        { begin: 20, end: 30 },
      ],
      role: '*',
    },
    { name: 'bugs', type: 'SET', set: ['a', 'bc'], role: '*' },
  ]);
});

test('empty tokens between semicolons are skipped', (t) => {
  t.is(P(';;cpus:1;;;mem:2; ;').toString(), 'cpus(*):1; mem(*):2');
  t.true(P('').isEmpty());
  t.true(P(' ; ;').isEmpty());
});

test('ranges are coalesced: sorted and adjacent merged; overlapping ones are refused, naming the resource', (t) => {
  t.deepEqual(P('ports:[1-10,11-20,21-30]').ranges('ports'), [{ begin: 1, end: 30 }]);
  t.throws(() => P('ports:[1-10,11-20,15-30]'), { message: /'ports'.*ranges \[11-20\] and \[15-30\] overlap/ });
  t.throws(() => P('ports:[1-10];ports:[5-20]'), { message: /resources 'ports': ranges \[1-10\] and \[5-20\] overlap/ });
  t.is(P('ports:[1-10];ports(web):[5-20]').toArray().length, 2, 'other roles may overlap');
  t.deepEqual(P('ports:[40-50,1-2,3-3]').ranges('ports'), [
    { begin: 1, end: 3 },
    { begin: 40, end: 50 },
  ]);
  t.deepEqual(P('ports:[5-5]').ranges('ports'), [{ begin: 5, end: 5 }]);
  t.true(P('ports:[]').isEmpty(), 'no ranges is an empty resource');
  t.deepEqual(P('ports:[0-9007199254740991]').ranges('ports'), [{ begin: 0, end: Number.MAX_SAFE_INTEGER }]);
});

test('sets are parsed, sorted, and empty items skipped', (t) => {
  t.deepEqual(P('bugs:{c,a,b}').set('bugs'), ['a', 'b', 'c']);
  t.deepEqual(P('bugs(debug):{a,,b,}').toArray(), [{ name: 'bugs', type: 'SET', set: ['a', 'b'], role: 'debug' }]);
  t.true(P('bugs:{}').isEmpty());
});

test('scalars: decimals and exponents; rounded to 3 decimals', (t) => {
  t.is(P('cpus:.5').scalar('cpus'), 0.5);
  t.is(P('cpus:2.').scalar('cpus'), 2);
  t.is(P('mem:1e3').scalar('mem'), 1000);
  t.is(P('cpus:1.5123').scalar('cpus'), 1.512);
  t.true(P('cpus:0').isEmpty(), 'zero is valid but empty');
});

test('the same name and identity given twice is added up', (t) => {
  t.is(P('cpus:1;cpus:2.5').scalar('cpus'), 3.5);
  t.deepEqual(P('ports:[1-5];ports:[6-9]').ranges('ports'), [{ begin: 1, end: 9 }]);
  t.is(P('cpus:1;cpus(ads):2').size, 2);
});

test('error: a token needs exactly one ":"', (t) => {
  rejects(t, 'cpus:1;mem:1:2', "'mem:1:2'", "exactly one ':'");
  rejects(t, 'cpus', "'cpus'", "exactly one ':'");
  rejects(t, 'cpus(a:b):1', "'cpus(a:b):1'", "exactly one ':'");
});

test('error: mismatched parentheses', (t) => {
  rejects(t, 'cpus(ads:1', "'cpus(ads:1'", 'mismatched parentheses');
  rejects(t, 'cpusads):1', "'cpusads):1'", 'mismatched parentheses');
  rejects(t, 'cpus)ads(:1', "'cpus)ads(:1'", 'mismatched parentheses');
  rejects(t, 'cpus(ads)x:1', "'cpus(ads)x:1'", 'mismatched parentheses');
  rejects(t, 'cpus(a)(b):1', "'cpus(a)(b):1'", 'mismatched parentheses');
});

test('error: TEXT values are not resources', (t) => {
  rejects(t, 'cpus:abc', "'cpus:abc'", "bad value 'abc'");
  rejects(t, 'cpus:1x', "'cpus:1x'", "bad value '1x'");
  rejects(t, 'cpus:Infinity', "'cpus:Infinity'", "bad value 'Infinity'");
  rejects(t, 'cpus:NaN', "'cpus:NaN'", "bad value 'NaN'");
  rejects(t, 'cpus:1e400', "'cpus:1e400'", 'not finite');
  // Finite, but beyond the fixed point of 3 decimals (an agent with it sent Infinity once summed).
  rejects(t, 'cpus:1e308', "'cpus:1e308'", 'more than 9007199254740');
  t.is(P('cpus:9007199254740').scalar('cpus'), 9007199254740);
  rejects(t, 'cpus:9000000000000;cpus:9000000000000', "'cpus'", 'the sum');
  rejects(t, 'cpus:', "'cpus:'", 'has no value');
});

test('error: ranges with an odd number of tokens or bad numbers', (t) => {
  rejects(t, 'ports:[1-2-3]', "'ports:[1-2-3]'", 'must be pairs');
  rejects(t, 'ports:[1]', "'ports:[1]'", 'must be pairs');
  rejects(t, 'ports:[1-2', "'ports:[1-2'", "must end with ']'");
  rejects(t, 'ports:[a-b]', "'ports:[a-b]'", 'not a range of unsigned integers');
  rejects(t, 'ports:[1.5-2]', "'ports:[1.5-2]'", 'not a range of unsigned integers');
  rejects(t, 'ports:[1-9007199254740992]', "'ports:[1-9007199254740992]'", 'exceeds 2^53');
  rejects(t, 'bugs:{a', "'bugs:{a'", "must end with '}'");
});

test('error: a range with begin > end', (t) => {
  rejects(t, 'ports:[5-1]', "'ports:[5-1]'", 'begin greater than end');
  rejects(t, 'ports:[1-2,9-3]', "'ports:[1-2,9-3]'", 'range 9-3 has begin greater than end');
});

test('error: negative numbers, in scalars and in ranges', (t) => {
  rejects(t, 'cpus:-1', "'cpus:-1'", 'negative');
  rejects(t, 'cpus:-0.5', "'cpus:-0.5'", 'negative');
  rejects(t, 'ports:[-5-10]', "'ports:[-5-10]'", 'negative');
  rejects(t, 'ports:[1-10,-20-30]', "'ports:[1-10,-20-30]'", 'negative');
  rejects(t, 'ports:[5--10]', "'ports:[5--10]'", 'negative');
});

test('error: scalars that round to zero', (t) => {
  rejects(t, 'cpus:0.0001', "'cpus:0.0001'", 'round to zero');
  rejects(t, 'cpus:1e-320', "'cpus:1e-320'", 'round to zero');
});

test('error: duplicate set items', (t) => {
  rejects(t, 'bugs:{a,b,a}', "'bugs:{a,b,a}'", "duplicate item 'a'");
});

test('error: the same name with two types', (t) => {
  rejects(t, 'cpus:1;cpus:[1-2]', "'cpus'", 'two types (SCALAR and RANGES)');
  rejects(t, 'x(a):{p};x(b):1', "'x'", 'two types (SET and SCALAR)');
});

test('error: invalid role names and empty names', (t) => {
  rejects(t, 'cpus(a b):1', "'cpus(a b):1'", "invalid role 'ab'".replace('ab', 'a b'));
  rejects(t, 'cpus():1', "'cpus():1'", 'must not be empty');
  rejects(t, 'cpus(-x):1', "'cpus(-x):1'", "must not start with '-'");
  rejects(t, 'cpus(a/b):1', "'cpus(a/b):1'", "must not contain '/'");
  rejects(t, 'cpus(..):1', "'cpus(..):1'", "must not be '..'");
  rejects(t, ':1', "':1'", 'name');
  rejects(t, '(ads):1', "'(ads):1'", 'name');
  t.throws(() => P('cpus:1', 'bad role'), { instanceOf: ValidationError, message: /invalid role 'bad role'/ }, 'a bad default role is reported');
});

test('the first error stops parsing: nothing is half-applied', (t) => {
  const e = t.throws(() => P('cpus:1;mem:2;disk:x;ports:[1-2]'), { instanceOf: ValidationError });
  t.true(e?.message.includes("'disk:x'"));
});

test('round trip: parse → format → parse gives equal resources', (t) => {
  for (const text of [
    'cpus(role):4;mem:1024;ports:[31000-32000]',
    'cpus:1.5;cpus(ads):0.001;gpus:2;ports:[1-5,7-9,100-100];bugs(debug):{a,b,c};disk:1e9',
    'ports(web):[0-0,9007199254740990-9007199254740991]',
    'mem:123456789.123',
  ]) {
    const once = P(text);
    const formatted = formatResourcesText(once);
    t.true(P(formatted).equals(once), `${text} → ${formatted}`);
    t.is(formatResourcesText(P(formatted)), formatted, 'formatting is stable');
  }
  t.is(formatResourcesText(P(' cpus ( ads ) : 4 ; ports : [ 3-4 , 1-2 ] ')), 'cpus(ads):4;ports:[1-4]');
  t.is(formatResourcesText(Resources.EMPTY), '');
});

test('formatting refuses what the text form cannot express', (t) => {
  const dynamic = resource('cpus', 1, { role: 'ads', reservation: { principal: 'ops' } });
  const revocable = resource('cpus', 1, { revocable: true });
  const disk = resource('disk', 1, { disk: { source: { type: 'PATH', root: '/p' } } });
  for (const r of [dynamic, revocable, disk]) {
    t.throws(() => formatResourcesText(Resources.of([r])), { instanceOf: ValidationError, message: /no text form/ });
  }
});

test('formatting refuses names, roles and set items that would not parse back the same', (t) => {
  const cases = [
    resource('bugs', ['a b']), // spaces are removed inside values
    resource('bugs', ['x,y']), // would become two items
    resource('bugs', ['', 'a']), // empty items are skipped when parsing
    resource('bugs', ['a;b']),
    resource('cpus', 1, { role: 'a;b' }), // ';' separates resources
    resource('cpus', 1, { role: 'a)b' }),
    resource('c:x', 1), // ':' separates name and value
    resource('c(x', 1),
    resource('a;b', 1),
    resource(' padded ', 1), // names are trimmed
  ];
  for (const r of cases) {
    const e = t.throws(() => formatResourcesText(Resources.of([r])), { instanceOf: ValidationError }, JSON.stringify(r));
    t.true(e?.message.includes('text form'), e?.message);
  }
});

test('agent flag rules: no persistent volumes, revocable resources or dynamic reservations', (t) => {
  t.notThrows(() => checkAgentFlagResources(P('cpus(ads):4;mem:1024;ports:[1-2]')));
  const cases: [Resources, string][] = [
    [
      Resources.of([resource('disk', 1, { role: 'ads', disk: { persistence: { id: 'v' }, volume: { mode: 'RW', containerPath: 'd' } } })]),
      'persistent volumes',
    ],
    [Resources.of([resource('cpus', 1, { revocable: true })]), 'revocable'],
    [Resources.of([resource('cpus', 1, { role: 'ads', reservation: { principal: 'ops' } })]), 'dynamic reservations'],
    [Resources.of([resource('x', 1), resource('x', ['a'], { role: 'r' })]), 'two types'],
  ];
  for (const [res, reason] of cases) {
    t.throws(() => checkAgentFlagResources(res), { instanceOf: ValidationError, message: new RegExp(reason) });
  }
});

test('round trip property: formatting either refuses or gives text that parses back equal', (t) => {
  const chars = fc.constantFrom('a', 'b', 'x', ' ', ';', ':', ',', '(', ')', '[', ']', '{', '}', '-', '.', '*', '\n');
  const word = fc.string({ unit: chars, minLength: 0, maxLength: 4 });
  const roleArb = fc.oneof(fc.constant('*'), fc.constant('ads'), word);
  const plain = fc.oneof(
    fc.tuple(word, fc.integer({ min: 1, max: 10 ** 9 }), roleArb).map(([n, m, role]) => ({ name: `c${n}`, type: 'SCALAR', scalar: m / 1000, role })),
    fc.tuple(word, fc.array(fc.nat(50), { minLength: 2, maxLength: 6 }), roleArb).map(([n, xs, role]) => ({
      name: `p${n}`,
      type: 'RANGES',
      ranges: xs.slice(0, xs.length - (xs.length % 2)).reduce<{ begin: number; end: number }[]>((acc, x, i, all) => {
        if (i % 2 === 0) acc.push({ begin: Math.min(x, all[i + 1]!) + 1000 * i, end: Math.max(x, all[i + 1]!) + 1000 * i });
        return acc;
      }, []),
      role,
    })),
    fc.tuple(word, fc.uniqueArray(word, { minLength: 1, maxLength: 4 }), roleArb).map(([n, set, role]) => ({ name: `s${n}`, type: 'SET', set, role })),
  );
  let refused = 0;
  let parsed = 0;
  fc.assert(
    fc.property(fc.array(plain, { maxLength: 5 }), (inputs) => {
      let res: Resources;
      try {
        res = Resources.of(inputs.map((x) => validateResource(x)));
      } catch {
        return; // not a valid resource to begin with (e.g. a bad role)
      }
      let text: string;
      try {
        text = formatResourcesText(res);
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        refused++;
        return;
      }
      const back = parseResourcesText(text);
      if (!back.equals(res)) throw new Error(`${res} → ${JSON.stringify(text)} → ${back}`);
      parsed++;
    }),
    { numRuns: 400 },
  );
  t.true(refused > 20 && parsed > 20, `refused ${refused}, round-tripped ${parsed}`);
});
