/**
 * Named network namespaces on the real kernel, checked against iproute2.
 */
import anyTest from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { NativeError, createNetns, createNetnsAsync, getNetns, listNetns, netnsPath, removeNetns } from '../../lib/linux/index.ts';
import { rootOnly } from '../helpers/root.ts';
import { clearLeftoverNetns, uniqueName } from '../helpers/tmp_names.ts';

const test = rootOnly(anyTest);
const made: string[] = [];

function newName(): string {
  const name = uniqueName();
  made.push(name);
  return name;
}

/** The network namespace of every thread of this process (JS thread, libuv pool, V8 workers). */
function threadNetns(): Set<string> {
  return new Set(readdirSync('/proc/self/task').map((tid) => readlinkSync(`/proc/self/task/${tid}/ns/net`)));
}

test.before(() => {
  clearLeftoverNetns();
});

test.after.always(() => {
  for (const name of made) removeNetns(name);
});

test('create off the JS thread: the same answers; a bad name is a rejection', async (t) => {
  const name = newName();
  t.true(await createNetnsAsync(name));
  t.false(await createNetnsAsync(name));
  t.true(listNetns().includes(name));
  t.true(removeNetns(name));
  await t.throwsAsync(createNetnsAsync('a/b'));
});

test('create makes /run/netns/NAME, a second create is false; remove is true then false', (t) => {
  const name = newName();
  t.is(getNetns(name), undefined);
  t.true(createNetns(name));
  t.true(existsSync(netnsPath(name)));
  t.false(createNetns(name));
  const info = getNetns(name);
  t.is(info?.name, name);
  t.is(info?.path, `/run/netns/${name}`);
  t.true((info?.inode ?? 0) > 0);
  t.true(listNetns().includes(name));

  t.true(removeNetns(name));
  t.false(existsSync(netnsPath(name)));
  t.is(getNetns(name), undefined);
  t.false(removeNetns(name));
});

test('iproute2 sees the namespace, with only a loopback link in it', (t) => {
  const name = newName();
  t.true(createNetns(name));
  t.true(
    execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .some((l) => l.split(' ')[0] === name),
  );
  const links = execFileSync('ip', ['-n', name, '-o', 'link', 'show'], { encoding: 'utf8' }).trim().split('\n');
  t.is(links.length, 1);
  t.regex(links[0] ?? '', /^1: lo:/);
  // Its own namespace, not ours: compare inode numbers (readlink gives "net:[INODE]").
  t.not(`net:[${getNetns(name)?.inode}]`, readlinkSync('/proc/self/ns/net'));
  t.true(removeNetns(name));
});

test('no thread of this process changes namespace', (t) => {
  const before = threadNetns();
  t.is(before.size, 1);
  const name = newName();
  t.true(createNetns(name));
  t.deepEqual(threadNetns(), before);
  t.true(removeNetns(name));
  t.deepEqual(threadNetns(), before);
});

/** This process's open files that namespace code could leak: namespaces and /run/netns. */
function nsFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (/^net:\[|\/run\/netns|\/ns\/net$/.test(target)) out.push(target);
    } catch {
      // closed meanwhile (the directory's own fd, or another part of the process)
    }
  }
  return out.sort();
}

// Serial, and only namespace files counted: the test runner and the thread pool open and close
// files of their own meanwhile (a run counted 28 open files against 29 before).
test.serial('many namespaces in a row, and no file descriptor is leaked on any path', (t) => {
  const fds = nsFds();
  const names = Array.from({ length: 20 }, newName);
  for (const n of names) t.true(createNetns(n));
  for (const n of names) t.false(createNetns(n));
  for (const n of names) t.truthy(getNetns(n));
  for (const n of names) t.true(removeNetns(n));
  for (const n of names) t.is(getNetns(n), undefined);
  for (const n of names) t.false(removeNetns(n));
  for (let i = 0; i < 20; i++) t.throws(() => createNetns('bad/name'));
  t.deepEqual(nsFds(), fds);
});

test('a plain file in the way is EEXIST; remove clears it', (t) => {
  const name = newName();
  execFileSync('touch', [netnsPath(name)]);
  t.is(getNetns(name), undefined);
  const e = t.throws(() => createNetns(name), { instanceOf: NativeError });
  t.is(e?.code as string | undefined, 'EEXIST');
  t.true(removeNetns(name));
  t.false(existsSync(netnsPath(name)));
});

test('clearing leftovers removes namespaces of dead test processes only', (t) => {
  // A pid that cannot be alive: above pid_max.
  const deadName = `corral-test-99999999-0`;
  const mine = newName();
  made.push(deadName);
  t.true(createNetns(deadName));
  t.true(createNetns(mine));
  const cleared = clearLeftoverNetns();
  t.true(cleared.includes(deadName));
  t.false(cleared.includes(mine));
  t.is(getNetns(deadName), undefined);
  t.truthy(getNetns(mine));
});
