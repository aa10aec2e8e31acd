/** The cache's bookkeeping alone: keys, references, reservations, LRU eviction. */
import test from 'ava';
import { FetcherCache } from '../../../lib/agent/fetcher/cache.ts';
import { silentLogger } from '../../../lib/common/log.ts';

const cache = (limit: number) => new FetcherCache('/nonexistent/corral-cache', limit, silentLogger);

function ready(c: FetcherCache, user: string | undefined, uri: string, size: number) {
  const { entry } = c.acquire(user, uri, uri.split('/').pop()!);
  if (!c.reserve(entry, size)) throw new Error('no room');
  c.complete(entry, size);
  c.release(entry);
  return entry;
}

test('one entry per (user, uri); names c<serial>-<base> under the user directory', (t) => {
  const c = cache(1000);
  const a = c.acquire(undefined, 'http://h/a.tgz', 'a.tgz');
  const b = c.acquire('alice', 'http://h/a.tgz', 'a.tgz');
  const a2 = c.acquire(undefined, 'http://h/a.tgz', 'a.tgz');
  t.true(a.created);
  t.true(b.created);
  t.false(a2.created);
  t.is(a2.entry, a.entry);
  t.is(a.entry.refs, 2);
  t.is(a.entry.path, '/nonexistent/corral-cache/c1-a.tgz');
  t.is(b.entry.path, '/nonexistent/corral-cache/alice/c2-a.tgz');
  // A user whose name looks like part of a URI does not share a key ("<user>@<uri>" would).
  const x = c.acquire('a@b', 'c', 'c');
  const y = c.acquire('a', 'b@c', 'c');
  t.not(x.entry, y.entry);
});

test('reservations count against the limit; completion shrinks to the real size', (t) => {
  const c = cache(100);
  const { entry } = c.acquire(undefined, 'u1', 'u1');
  t.true(c.reserve(entry, 60));
  t.is(c.used, 60);
  c.complete(entry, 50);
  t.is(c.used, 50);
  t.is(entry.state, 'ready');
  const { entry: big } = c.acquire(undefined, 'u2', 'u2');
  t.false(c.reserve(big, 101), 'bigger than the whole cache');
  t.false(c.reserve(big, 60), 'u1 is still referenced: nothing can be evicted');
  t.is(c.used, 50);
  t.is(c.evictions, 0);
});

test('eviction takes the least recently used idle entries, never a referenced one', (t) => {
  const c = cache(100);
  const a = ready(c, undefined, 'a', 30);
  const b = ready(c, undefined, 'b', 30);
  const d = ready(c, undefined, 'd', 30);
  // Use a again: b is now the least recently used.
  c.release(c.acquire(undefined, 'a', 'a').entry);
  // d is in use.
  c.acquire(undefined, 'd', 'd');
  const { entry: e } = c.acquire(undefined, 'e', 'e');
  t.true(c.reserve(e, 40)); // 90 used, 10 free: needs 30 more → b goes
  t.is(c.evictions, 1);
  t.is(b.state, 'gone');
  t.is(c.get(undefined, 'b'), undefined);
  t.is(a.state, 'ready');
  t.is(d.state, 'ready');
  t.is(c.used, 100);
  const { entry: f } = c.acquire(undefined, 'f', 'f');
  t.true(c.reserve(f, 30)); // a is idle → evicted; d (in use) and e (pending) are not
  t.is(a.state, 'gone');
  t.is(d.state, 'ready');
  t.is(c.evictions, 2);
});

test('a failed entry leaves the table, gives its space back and rejects its waiters', async (t) => {
  const c = cache(100);
  const { entry } = c.acquire(undefined, 'u', 'u');
  c.acquire(undefined, 'u', 'u'); // a waiter
  t.true(c.reserve(entry, 40));
  c.fail(entry, new Error('HTTP 500'));
  await t.throwsAsync(entry.done, { message: 'HTTP 500' });
  t.is(c.used, 0);
  t.is(c.get(undefined, 'u'), undefined);
  t.true(c.acquire(undefined, 'u', 'u').created, 'the next request downloads again');
});
