/**
 * Netlink links through the addon's rtnetlink (network isolator build only; skipped in the default build, where
 * native.test.ts checks the "rebuild with" error instead).
 */
import anyTest from 'ava';
import { createNetns, listLinks, nativeFeatures, removeNetns } from '../../lib/linux/index.ts';
import { rootMode, rootOnly } from '../helpers/root.ts';
import { clearLeftoverNetns, uniqueName } from '../helpers/tmp_names.ts';

// Without the feature: skipped like a root test off-root (hooks do not run either).
const test = rootOnly(anyTest, nativeFeatures().networkIsolator ? rootMode() : 'skip');
const made: string[] = [];

test.before(() => {
  clearLeftoverNetns();
});

test.after.always(() => {
  for (const name of made) removeNetns(name);
});

test('a fresh namespace has exactly one link: loopback, down', (t) => {
  const name = uniqueName();
  made.push(name);
  t.true(createNetns(name));
  const links = listLinks({ netns: name });
  t.is(links.length, 1);
  t.like(links[0], { index: 1, name: 'lo', up: false, loopback: true, mtu: 65536, kind: '' });
  t.is(links[0]?.stats.rxPackets, 0);
});

test('the socket is opened inside the namespace, not in ours', (t) => {
  const name = uniqueName();
  made.push(name);
  t.true(createNetns(name));
  const ours = listLinks().map((l) => l.name);
  const theirs = listLinks({ netns: name }).map((l) => l.name);
  t.true(ours.includes('lo'));
  t.deepEqual(theirs, ['lo']);
});
