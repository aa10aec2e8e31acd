/**
 * The fetcher cache's bookkeeping (as in Mesos): entries keyed by (user, URI)
 * (Mesos's "<user>@<uri>"; no user is a user of its own), each one file
 * `<dir>/[<user>/]c<serial>-<base>`, a tally of the bytes reserved against `--fetcher_cache_size`,
 * reference counts, and least-recently-used eviction that never touches an entry in use.
 *
 * An entry is added to the table when its download starts, so a second request for the same key
 * waits on `done` instead of downloading again. A failed entry leaves the table at once (its
 * space and partial file released) and rejects `done`: waiters see why.
 *
 * The cache survives an agent restart (Mesos wipes it). A download goes to `<file>.partial` and
 * is renamed when complete; then its metadata (user, URI, size, sha256, mode) is written to
 * `<file>.meta` (through `<file>.meta.tmp` and a rename), and only then is the entry ready. The
 * meta file's mtime is the entry's last use (touched on each release). At start, `recover`
 * rebuilds the table from the directory: partial files, data without metadata, unreadable
 * metadata, a size or digest different from the recorded one are dropped (each logged with its
 * path and reason); entries keep their LRU order and, over --fetcher_cache_size, the least
 * recently used are evicted.
 */
import { constants as fsc } from 'node:fs';
import { lstat, mkdir, open, readFile, readdir, rename, rm, rmdir, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../common/log.ts';
import { fileSha256 } from './download.ts';

/** What `<file>.meta` holds. */
interface EntryMeta {
  readonly user: string | null;
  readonly uri: string;
  readonly size: number;
  readonly sha256?: string;
  readonly mode: number;
}

export class CacheEntry {
  /** Bytes reserved while pending; the file's size once ready. */
  size = 0;
  refs = 0;
  /** Logical time of the last use, for LRU. */
  lastUse = 0;
  state: 'pending' | 'ready' | 'gone' = 'pending';
  /**
   * The file's mode once ready: 0444, or 0555 when the first request wanted an executable (in a
   * user's 0700 directory); 0400 or 0500 for an entry of no user.
   */
  mode = 0o444;
  /** The file's sha256 (hex) when known: always for an http download, else when a URI asked. */
  sha256: string | undefined;
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

  /** The entry's metadata (written once the file is complete). */
  get metaPath(): string {
    return `${this.path}.meta`;
  }
}

/** `<base>` of a cache file name: the URI's basename, first 10 + '_' + last 10 chars when longer than 20. */
export function cacheBaseName(basename: string): string {
  const safe = basename.replace(/[/\0]/g, '_');
  const base = safe.length > 20 ? `${safe.slice(0, 10)}_${safe.slice(-10)}` : safe;
  // Never ending like the cache's own side files (<file>.partial, .meta, .meta.tmp).
  return /\.(partial|meta|tmp)$/.test(base) ? `${base}_` : base;
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
    if (entry.state === 'ready') {
      // The last use, for the LRU order after a restart: the meta file's mtime.
      const now = new Date();
      utimes(entry.metaPath, now, now).catch(() => {});
    }
  }

  /**
   * Write the entry's metadata atomically (a temporary file renamed over it): the entry counts
   * as complete on disk from then on.
   */
  async persist(entry: CacheEntry, size: number): Promise<void> {
    const meta: EntryMeta = { user: entry.user ?? null, uri: entry.uri, size, mode: entry.mode, ...(entry.sha256 ? { sha256: entry.sha256 } : {}) };
    const tmp = `${entry.metaPath}.tmp`;
    await rm(tmp, { force: true });
    const fh = await open(tmp, NEW_FILE, 0o600);
    try {
      await fh.writeFile(JSON.stringify(meta));
    } finally {
      await fh.close();
    }
    await rename(tmp, entry.metaPath);
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
    return Promise.all([
      rm(entry.metaPath, { force: true }),
      rm(`${entry.metaPath}.tmp`, { force: true }),
      rm(entry.path, { force: true }),
      rm(entry.partialPath, { force: true }),
    ]).then(
      () => undefined,
      (e) => this.log.warn({ path: entry.path, err: String(e) }, 'cannot delete a fetcher cache file'),
    );
  }

  /**
   * The directory for a user's files: the agent's alone (0700, also when an older agent made it
   * 0755). Users get cached files only through the fetcher, as a file their task's user was
   * entitled to fetch; entries of no user lie at the top, which may be a shared directory, and
   * are themselves readable by root only (0400/0500).
   *
   * A user's directory that is not the agent's (a symlink, a file, a directory of another owner:
   * left from a cache directory that users could once write) is removed and made again, with a
   * warning: the agent never writes into a directory that someone else controls.
   */
  async ensureDir(user: string | undefined): Promise<void> {
    await this.ownDir();
    if (user === undefined) return;
    const dir = join(this.dir, userDir(user));
    try {
      await mkdir(dir, { mode: 0o700 });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const st = await lstat(dir);
    const me = process.getuid?.();
    if (!st.isDirectory() || (me !== undefined && st.uid !== me)) {
      const what = st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? `a directory owned by uid ${st.uid}` : 'not a directory';
      this.log.warn({ dir, user, found: what }, "a user's fetcher cache directory is not the agent's: removing it and making it again");
      for (const e of this.entries.values()) if (e.user === user && e.state === 'ready' && e.refs === 0) void this.drop(e);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { mode: 0o700 });
      return;
    }
    // Through the open directory: a path would follow a symlink put there meanwhile.
    const fh = await open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
    try {
      await fh.chmod(0o700);
    } finally {
      await fh.close();
    }
  }

  /**
   * A fresh path in the cache directory for a download that bypasses the cache (named like a
   * partial file, so that a restart drops it if it is left behind).
   */
  async scratchPath(user: string | undefined, basename: string): Promise<string> {
    await this.ensureDir(user);
    const file = `c${++this.serial}-${cacheBaseName(basename)}.partial`;
    return user === undefined ? join(this.dir, file) : join(this.dir, userDir(user), file);
  }

  private async ownDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // A root agent writes here: a directory another user made (or may write) is refused.
    if (process.getuid?.() === 0) {
      const st = await stat(this.dir);
      if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
        throw new Error(
          `the fetcher cache directory ${this.dir} is owned by uid ${st.uid} with mode ${(st.mode & 0o7777).toString(8)}: only root may write in it (--fetcher_cache_dir)`,
        );
      }
    }
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
    await this.ownDir();
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

  /**
   * Rebuild the table from the directory (at agent start): every complete entry with readable
   * metadata that matches its file is kept, in its LRU order (the meta files' mtimes); anything
   * else named like a cache file is deleted with a log line saying why. Then entries are
   * evicted, least recently used first, until the cache fits --fetcher_cache_size.
   */
  async recover(): Promise<void> {
    for (const e of this.entries.values()) {
      e.state = 'gone';
      e.reject(new Error('the fetcher cache was recovered'));
    }
    this.entries.clear();
    this.tally = 0;
    await this.ownDir();
    const found: { entry: CacheEntry; mtime: number }[] = [];
    const dropFile = async (path: string, reason: string): Promise<void> => {
      this.log.warn({ path, reason }, 'dropping a damaged fetcher cache entry');
      await rm(path, { force: true }).catch((e) => this.log.warn({ path, err: String(e) }, 'cannot delete a fetcher cache file'));
    };
    const userDirs = new Set<string>();
    const scan = async (dir: string, user: string | undefined | null): Promise<void> => {
      // user: undefined at the top (no user), null in a directory whose user is read from the metadata.
      const names = (await readdir(dir)).filter((n) => CACHE_FILE.test(n) && !(user === undefined && userDirs.has(n)));
      const present = new Set(names);
      for (const name of names) {
        const path = join(dir, name);
        const serial = Number(/^c([0-9]+)-/.exec(name)![1]);
        if (serial > this.serial) this.serial = serial;
        if (name.endsWith('.partial') || name.endsWith('.meta.tmp')) {
          await dropFile(path, 'a partial file (the download or its metadata was not complete)');
          continue;
        }
        if (name.endsWith('.meta')) {
          if (!present.has(name.slice(0, -'.meta'.length))) await dropFile(path, 'metadata whose cached file is missing');
          continue;
        }
        const why = await this.check(dir, name, user, present);
        if (typeof why === 'string') {
          await dropFile(path, why);
          if (present.has(`${name}.meta`)) await rm(`${path}.meta`, { force: true }).catch(() => {});
          continue;
        }
        found.push(why);
      }
    };
    const me = process.getuid?.();
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name);
      const st = await lstat(path);
      if (st.isDirectory() && me !== undefined && st.uid !== me) {
        // Whatever is in it could have been put there by its owner: nothing of it is trusted.
        userDirs.add(name);
        this.log.warn({ path, owner: st.uid }, "dropping a user's fetcher cache directory that is not the agent's");
        await rm(path, { recursive: true, force: true }).catch((e) => this.log.warn({ path, err: String(e) }, 'cannot delete a fetcher cache directory'));
        continue;
      }
      if (st.isDirectory()) {
        userDirs.add(name); // a user's directory, whatever its name looks like
        await scan(path, null);
        await rmdir(path).catch(() => {}); // only when nothing is left in it
      }
    }
    await scan(this.dir, undefined);
    // Least recently used first; a duplicate key (should not happen) keeps the newer file.
    found.sort((a, b) => a.mtime - b.mtime);
    for (const { entry } of found) {
      const old = this.entries.get(entry.key);
      if (old) {
        this.log.warn({ path: old.path, reason: `a newer entry for the same URI is ${entry.path}` }, 'dropping a damaged fetcher cache entry');
        void this.drop(old);
      }
      entry.lastUse = ++this.clock;
      this.entries.set(entry.key, entry);
      this.tally += entry.size;
    }
    const byAge = Array.from(this.entries.values()).sort((a, b) => a.lastUse - b.lastUse);
    for (const e of byAge) {
      if (this.tally <= this.limit) break;
      this.evict(e);
    }
    this.log.info({ dir: this.dir, entries: this.entries.size, bytes: this.tally }, 'recovered the fetcher cache');
  }

  /** A recovered entry for `<dir>/<name>`, or why it is dropped. */
  private async check(
    dir: string,
    name: string,
    user: string | undefined | null,
    present: Set<string>,
  ): Promise<{ entry: CacheEntry; mtime: number } | string> {
    const path = join(dir, name);
    if (!present.has(`${name}.meta`)) return 'its metadata is missing (an interrupted download or an old cache)';
    let meta: EntryMeta;
    let mtime: number;
    try {
      meta = JSON.parse(await readFile(`${path}.meta`, 'utf8')) as EntryMeta;
      mtime = (await stat(`${path}.meta`)).mtimeMs;
    } catch (e) {
      return `its metadata is unreadable: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (
      typeof meta !== 'object' ||
      meta === null ||
      typeof meta.uri !== 'string' ||
      !Number.isSafeInteger(meta.size) ||
      meta.size < 0 ||
      !(meta.user === null || typeof meta.user === 'string') ||
      typeof meta.mode !== 'number' ||
      (meta.sha256 !== undefined && (typeof meta.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(meta.sha256)))
    ) {
      return 'its metadata is unreadable: a field is missing or of the wrong type';
    }
    const metaUser = meta.user ?? undefined;
    const expectedDir = metaUser === undefined ? this.dir : join(this.dir, userDir(metaUser));
    if (expectedDir !== dir || (user === undefined && metaUser !== undefined)) return `its metadata names user '${meta.user}', whose files are elsewhere`;
    let st;
    try {
      st = await lstat(path);
    } catch (e) {
      return `cannot stat it: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (!st.isFile()) return 'not a regular file';
    if (st.size !== meta.size) return `its size (${st.size} bytes) is not the recorded size (${meta.size} bytes)`;
    if (meta.sha256 !== undefined) {
      let actual: string;
      try {
        actual = await fileSha256(path);
      } catch (e) {
        return `cannot read it: ${e instanceof Error ? e.message : String(e)}`;
      }
      if (actual !== meta.sha256) return `its sha256 (${actual}) is not the recorded one (${meta.sha256})`;
    }
    const entry = new CacheEntry(keyOf(metaUser, meta.uri), metaUser, meta.uri, path);
    entry.size = meta.size;
    entry.mode = st.mode & 0o777;
    entry.sha256 = meta.sha256;
    entry.state = 'ready';
    entry.resolve();
    return { entry, mtime };
  }
}

const CACHE_FILE = /^c[0-9]+-/;

/** A cache file is always new: never an existing file, never through a symlink. */
export const NEW_FILE = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

/** A user's directory name: the name itself, unless it could not be one (hex-encoded then). */
function userDir(user: string): string {
  return /^[^/\0]+$/.test(user) && user !== '.' && user !== '..' ? user : `u-${Buffer.from(user).toString('hex')}`;
}

function keyOf(user: string | undefined, uri: string): string {
  // NUL is in neither a user name nor a URI: no two (user, uri) pairs share a key.
  return user === undefined ? `\0${uri}` : `${user}\0${uri}`;
}
