/**
 * The fetcher cache's bookkeeping (spec agent-features §6.5–6.6): entries keyed by (user, URI)
 * (Mesos's "<user>@<uri>"; no user is a user of its own), each one file
 * `<dir>/[<user>/]c<serial>-<base>`, a tally of the bytes reserved against `--fetcher_cache_size`,
 * reference counts, and least-recently-used eviction that never touches an entry in use.
 *
 * An entry is added to the table when its download starts, so a second request for the same key
 * waits on `done` instead of downloading again. A failed entry leaves the table at once (its
 * space and partial file released) and rejects `done`: waiters see why. Everything is in memory
 * only; its files are deleted when the agent starts, as Mesos does.
 */
import { lstat, mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../common/log.ts';

export class CacheEntry {
  /** Bytes reserved while pending; the file's size once ready. */
  size = 0;
  refs = 0;
  /** Logical time of the last use, for LRU. */
  lastUse = 0;
  state: 'pending' | 'ready' | 'gone' = 'pending';
  /** The file's mode once ready: 0444, or 0555 when the first request wanted an executable. */
  mode = 0o444;
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (e: unknown) => void;

  constructor(
    readonly key: string,
    readonly user: string | undefined,
    readonly uri: string,
    /** The file, once complete. */
    readonly path: string,
  ) {
    this.done = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.done.catch(() => {}); // nobody may be waiting
  }

  /** Where the download goes before it is complete. */
  get partialPath(): string {
    return `${this.path}.partial`;
  }
}

/** `<base>` of a cache file name: the URI's basename, first 10 + '_' + last 10 chars when longer than 20. */
export function cacheBaseName(basename: string): string {
  const safe = basename.replace(/[/\0]/g, '_');
  return safe.length > 20 ? `${safe.slice(0, 10)}_${safe.slice(-10)}` : safe;
}

export class FetcherCache {
  private readonly entries = new Map<string, CacheEntry>();
  private tally = 0;
  private serial = 0;
  private clock = 0;
  evictions = 0;

  constructor(
    readonly dir: string,
    readonly limit: number,
    private readonly log: Logger,
  ) {}

  /** Bytes reserved or held. */
  get used(): number {
    return this.tally;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The entry of (user, uri), if any (tests and the state view). */
  get(user: string | undefined, uri: string): CacheEntry | undefined {
    return this.entries.get(keyOf(user, uri));
  }

  *all(): IterableIterator<CacheEntry> {
    yield* this.entries.values();
  }

  /** Take a reference on the entry of (user, uri), creating it (pending) if there is none. */
  acquire(user: string | undefined, uri: string, basename: string): { entry: CacheEntry; created: boolean } {
    const key = keyOf(user, uri);
    let entry = this.entries.get(key);
    const created = entry === undefined;
    if (!entry) {
      const file = `c${++this.serial}-${cacheBaseName(basename)}`;
      entry = new CacheEntry(key, user, uri, user === undefined ? join(this.dir, file) : join(this.dir, userDir(user), file));
      this.entries.set(key, entry);
    }
    entry.refs++;
    entry.lastUse = ++this.clock;
    return { entry, created };
  }

  release(entry: CacheEntry): void {
    entry.refs = Math.max(0, entry.refs - 1);
    entry.lastUse = ++this.clock;
  }

  /**
   * Reserve `size` bytes for a pending entry, evicting least recently used entries that nobody
   * holds if that is what it takes. False (and nothing evicted) when it cannot fit.
   */
  reserve(entry: CacheEntry, size: number): boolean {
    if (size > this.limit) return false;
    const shortfall = size - (this.limit - this.tally);
    if (shortfall > 0) {
      const idle = Array.from(this.entries.values())
        .filter((e) => e.refs === 0 && e.state === 'ready')
        .sort((a, b) => a.lastUse - b.lastUse);
      const victims: CacheEntry[] = [];
      let freed = 0;
      for (const v of idle) {
        if (freed >= shortfall) break;
        victims.push(v);
        freed += v.size;
      }
      if (freed < shortfall) return false;
      for (const v of victims) this.evict(v);
    }
    this.tally += size;
    entry.size = size;
    return true;
  }

  /** The download is complete with `size` bytes (at most what was reserved). */
  complete(entry: CacheEntry, size: number): void {
    this.tally -= entry.size - size;
    entry.size = size;
    entry.state = 'ready';
    entry.resolve();
  }

  /**
   * The download failed: forget the entry, release its space, tell waiters; resolves when its
   * files are deleted.
   */
  fail(entry: CacheEntry, error: unknown): Promise<void> {
    const deleted = this.drop(entry);
    entry.reject(error);
    return deleted;
  }

  /** Drop a ready entry whose file turned out to be unusable (deleted behind our back). */
  discard(entry: CacheEntry): void {
    void this.drop(entry);
  }

  private evict(entry: CacheEntry): void {
    this.evictions++;
    this.log.info({ uri: entry.uri, user: entry.user, bytes: entry.size }, 'evicting a fetcher cache entry');
    void this.drop(entry);
  }

  private drop(entry: CacheEntry): Promise<void> {
    if (entry.state === 'gone') return Promise.resolve();
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    this.tally -= entry.size;
    entry.size = 0;
    entry.state = 'gone';
    return Promise.all([rm(entry.path, { force: true }), rm(entry.partialPath, { force: true })]).then(
      () => undefined,
      (e) => this.log.warn({ path: entry.path, err: String(e) }, 'cannot delete a fetcher cache file'),
    );
  }

  /** The directory for a user's files. */
  async ensureDir(user: string | undefined): Promise<void> {
    await mkdir(user === undefined ? this.dir : join(this.dir, userDir(user)), { recursive: true, mode: 0o755 });
  }

  /**
   * Empty the cache: the table, and the cache's files in the directory (at agent start, as Mesos
   * does). Only files named like cache files (`c<serial>-...`, at the top or in a user's
   * directory) are deleted, and then the emptied user directories: a --fetcher_cache_dir that
   * points at a shared directory loses nothing else.
   */
  async clear(): Promise<void> {
    for (const e of this.entries.values()) {
      e.state = 'gone';
      e.reject(new Error('the fetcher cache was cleared'));
    }
    this.entries.clear();
    this.tally = 0;
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name);
      if (CACHE_FILE.test(name)) {
        await rm(path, { force: true });
      } else if ((await lstat(path)).isDirectory()) {
        for (const file of await readdir(path)) if (CACHE_FILE.test(file)) await rm(join(path, file), { force: true });
        await rmdir(path).catch(() => {}); // only when nothing else is in it
      }
    }
  }
}

const CACHE_FILE = /^c[0-9]+-/;

/** A user's directory name: the name itself, unless it could not be one (hex-encoded then). */
function userDir(user: string): string {
  return /^[^/\0]+$/.test(user) && user !== '.' && user !== '..' ? user : `u-${Buffer.from(user).toString('hex')}`;
}

function keyOf(user: string | undefined, uri: string): string {
  // NUL is in neither a user name nor a URI: no two (user, uri) pairs share a key.
  return user === undefined ? `\0${uri}` : `${user}\0${uri}`;
}
