/**
 * Net steps as one buffer for the addon (lib/linux/net_encode.ts): what it writes, what it
 * refuses before anything is applied; and (network isolator build) the addon reading it back,
 * refusing a malformed buffer with a TypeError rather than reading past its end.
 */
import test from 'ava';
import { FIELD_TAGS, STEP_KIND_CODES, encodeNetSteps } from '../../lib/linux/net_encode.ts';
import { INGRESS_HANDLE, TC_ACT_STOLEN, applyNetSteps, ipv4Keys, nativeFeatures, type NetStep } from '../../lib/linux/index.ts';
import { requireFeature } from '../../lib/linux/native.ts';

const filter: NetStep = {
  kind: 'filterAdd',
  link: 'eth0',
  parent: INGRESS_HANDLE,
  prio: 0x1000,
  protocol: 0x0800,
  keys: ipv4Keys({ dstPorts: { base: 32768, size: 128 } }),
  terminal: true,
  actions: [{ kind: 'redirect', dev: 'corral77', control: TC_ACT_STOLEN }],
};

test('a step is its kind code, its field count and the fields it sets; numbers as f64, strings with their length', (t) => {
  const b = Buffer.from(encodeNetSteps([{ kind: 'linkSet', link: 'lo', mtu: 1400, up: false }]));
  t.is(b.readUInt32LE(0), 1);
  t.is(b[4], STEP_KIND_CODES.linkSet);
  t.is(b[5], 3, 'three fields given');
  let i = 6;
  t.is(b[i++], FIELD_TAGS.link![0]);
  t.is(b.readUInt16LE(i), 2);
  t.is(b.toString('utf8', i + 2, i + 4), 'lo');
  i += 4;
  t.is(b[i++], FIELD_TAGS.mtu![0]);
  t.is(b.readDoubleLE(i), 1400);
  i += 8;
  t.is(b[i++], FIELD_TAGS.up![0]);
  t.is(b[i++], 0, 'up: false is written, not left out');
  t.is(i, b.length);
});

test('keys and actions: counts, then (val, mask, off) triples and (kind, dev, control)', (t) => {
  const b = Buffer.from(encodeNetSteps([filter]));
  t.is(b[5], 7, 'link, parent, prio, protocol, keys, terminal, actions');
  const keysAt = b.indexOf(FIELD_TAGS.keys![0], 6);
  t.true(keysAt > 0);
  const keys = (filter as { keys: readonly { val: number; mask: number; off: number }[] }).keys;
  t.is(b[keysAt + 1], keys.length);
  t.is(b.readDoubleLE(keysAt + 2), keys[0]!.val);
  t.is(b.readDoubleLE(keysAt + 10), keys[0]!.mask);
  const tail = b.subarray(b.length - (1 + 1 + 1 + 2 + 'corral77'.length + 8));
  t.is(tail[0], FIELD_TAGS.actions![0]);
  t.is(tail[1], 1);
  t.is(tail[2], 1, 'redirect');
  t.is(tail.toString('utf8', 5, 13), 'corral77');
  t.is(tail.readDoubleLE(13), TC_ACT_STOLEN);
});

test('bad steps are refused by name before anything is applied; values of another type count as not given', (t) => {
  const bad = (steps: unknown[], re: RegExp) =>
    t.throws(() => encodeNetSteps(steps as NetStep[]), { instanceOf: TypeError, message: re, code: 'ERR_INVALID_ARG_TYPE' } as never);
  bad([{ kind: 'linkSet', link: 'lo' }, 'x'], /steps\[1\] must be an object/);
  bad([{ kind: 'bridgeAdd', link: 'lo' }], /step\.kind: unknown 'bridgeAdd'/);
  bad([{ kind: 'toString', link: 'lo' }], /step\.kind: unknown 'toString'/);
  bad([{ kind: 'linkSet', link: 7 }], /step\.link: a string/);
  bad([{ ...filter, keys: Array(9).fill({ val: 0, mask: 0, off: 0 }) }], /step\.keys: at most 8/);
  bad([{ ...filter, actions: Array(33).fill({ kind: 'mirror', dev: 'x', control: 0 }) }], /step\.actions: at most 32/);
  bad([{ ...filter, actions: [{ kind: 'drop', dev: 'x', control: 0 }] }], /redirect or mirror/);
  bad([{ ...filter, actions: [{ kind: 'mirror', control: 0 }] }], /step\.dev: a link name/);
  // Lenient as the addon always was: an mtu that is not a number is not given.
  const b = Buffer.from(encodeNetSteps([{ kind: 'linkSet', link: 'lo', mtu: '1400' } as unknown as NetStep]));
  t.is(b[5], 1, 'only the link');
});

const withNet = nativeFeatures().networkIsolator ? test : test.skip;

withNet('the addon refuses a malformed buffer and what the encoder lets through but it checks, naming the field', (t) => {
  const netApply = requireFeature('networkIsolator').netApply!;
  const good = encodeNetSteps([{ kind: 'linkSet', link: 'lo', up: true }]);
  for (const cut of [0, 3, 5, good.length - 1]) {
    t.throws(() => netApply({ steps: good.subarray(0, cut) }), { instanceOf: TypeError }, `cut at ${cut}`);
  }
  t.throws(() => netApply({ steps: Buffer.concat([good, Buffer.from([0])]) }), { instanceOf: TypeError, message: /past the last step/ });
  t.throws(() => netApply({ steps: [] as unknown as Uint8Array }), { instanceOf: TypeError, message: /Uint8Array/ });
  // Checked by the addon: link name lengths, MAC and IPv4 syntax, alias length, sysctl path.
  const refused = (step: Record<string, unknown>, re: RegExp) =>
    t.throws(() => applyNetSteps({}, [step as unknown as NetStep]), { instanceOf: TypeError, message: re });
  refused({ kind: 'linkSet', link: 'a-name-longer-than-15' }, /step\.link: a link name of 1 to 15 characters/);
  refused({ kind: 'linkSet', link: 'lo', mac: 'zz:00' }, /step\.mac: a MAC address/);
  refused({ kind: 'addrAdd', link: 'lo', address: '10.0.0', prefix: 8 }, /step\.address: an IPv4 address/);
  refused({ kind: 'linkSet', link: 'lo', alias: '' }, /step\.alias: 1 to 127 characters/);
  refused({ kind: 'sysctl', path: '', value: '1' }, /sysctl needs path and value/);
  refused({ kind: 'linkSet' }, /step\.link: a link name/);
});
