import test from 'ava';
import { agentResources } from '../../lib/agent/detect.ts';

const GB = 1024 ** 3;

test('detected resources fill what --resources leaves out, with the Mesos rules', (t) => {
  const host = { cpus: 8, memBytes: 16 * GB, diskBytes: 100 * GB };
  const all = agentResources(undefined, '*', host);
  t.is(all.scalar('cpus'), 8);
  t.is(all.scalar('mem'), 15 * 1024);
  t.is(all.scalar('disk'), 95 * 1024);
  t.deepEqual(all.ranges('ports'), [{ begin: 31000, end: 32000 }]);
  const small = agentResources(undefined, '*', { cpus: 1, memBytes: 1 * GB, diskBytes: 8 * GB });
  t.is(small.scalar('mem'), 512);
  t.is(small.scalar('disk'), 4 * 1024);
  const given = agentResources('cpus:2;ports:[1000-1001]', '*', host);
  t.is(given.scalar('cpus'), 2);
  t.deepEqual(given.ranges('ports'), [{ begin: 1000, end: 1001 }]);
  t.is(given.scalar('mem'), 15 * 1024);
  const role = agentResources('mem:100', 'ads', host);
  t.is(role.reserved('ads').scalar('cpus'), 8);
  t.is(role.reserved('ads').scalar('mem'), 100);
  t.throws(() => agentResources('cpus:lots', '*', host), { message: /cpus:lots/ });
});
