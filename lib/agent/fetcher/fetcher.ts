/**
 * The fetcher (as in Mesos): before a task starts, each URI of its CommandInfo is put
 * into the sandbox — downloaded (http/https) or copied (local paths), named after the URI or
 * `output_file`, made executable or extracted — and given to the task's user. URIs of one
 * request go one after another; requests run concurrently. Any failure fails the whole request
 * with a FetchError naming the URI and the reason. What the fetcher does is logged to the
 * sandbox's `stderr` (where the task's own stderr follows), with progress lines for slow downloads.
 *
 * When the agent is root and the task runs as another user, everything done on the task's behalf
 * in the filesystem (reading a local source, also into the cache; writing the sandbox;
 * extracting) is done with that user's rights by short child processes (as_user.ts): the task
 * gets only what its user may read, and root follows no path the user controls.
 *
 * With `cache: true` the file comes through the cache (cache.ts), once per (user, URI):
 *   - miss: this request downloads into the cache (size from Content-Length or stat; room made
 *     by LRU eviction), then gives the file to its sandbox; concurrent requests for the same key
 *     wait for that one download;
 *   - hit: the cached file is given to the sandbox: extracted from the cache when it is an
 *     archive (only the contents land in the sandbox, as in Mesos), else hard-linked when the
 *     task cannot modify it (a non-root task user: the link is root's and read-only, 0444/0555;
 *     the task may delete or replace it, not write it), else copied (reflink where the
 *     filesystem can);
 *   - a file larger than the cache, one of unknown size, or one that cannot be given room
 *     (everything is in use) bypasses the cache: it is downloaded straight into the sandbox;
 *   - a failed download is not cached: every waiting request fails with the same reason (one
 *     request to a broken server, not N). Trouble in the cache itself (a write error in the cache
 *     directory, an aborted shared download, a cached file gone) never fails a task: the request
 *     falls back to a direct download.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, chown, lchown, lstat, mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { describeError } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/log.ts';
import { linkBeneath } from '../../linux/index.ts';
import type { Uri } from '../../proto/messages.ts';
import { AsUser } from './as_user.ts';
import { type CacheEntry, FetcherCache, NEW_FILE } from './cache.ts';
import { type HttpBody, type Progress, copyLocal, fileSha256, localSize, openHttp, receive } from './download.ts';
import { CacheFailure, FetchError, SinkError, SourceError, errnoText } from './errors.ts';
import { type Ids, extract } from './extract.ts';
import { type UserIds, UserLookup } from './users.ts';
import { type Plan, planUri } from './uri.ts';

export const DEFAULT_FETCHER_CACHE_SIZE = 2 * 1024 ** 3;
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

export interface FetcherOptions {
  readonly cacheDir: string;
  /** `--fetcher_cache_size` in bytes (default 2 GB). */
  readonly cacheSizeBytes?: number;
  /** `--frameworks_home`: relative URIs are joined to it. */
  readonly frameworksHome?: string;
  /** `--fetcher_stall_timeout`: a download with no data for this long fails (default 1 min). */
  readonly stallTimeoutMs?: number;
  /** How often a running download logs its progress to the sandbox (default 5 s). */
  readonly progressIntervalMs?: number;
  /** Hard-link cached files into sandboxes where the task cannot modify them (default true). */
  readonly hardLinks?: boolean;
  readonly logger?: Logger;
}

export interface FetchRequest {
  readonly uris: readonly Uri[];
  readonly sandbox: string;
  /** The task's user when --switch_user applies: it owns the files and keys the cache. */
  readonly user?: string;
  /** Abort the fetch (the task was killed while its URIs were being fetched). */
  readonly signal?: AbortSignal;
  /** For the agent's log. */
  readonly containerId?: string;
}

/** What became of one URI. */
export interface Fetched {
  readonly uri: string;
  /** The file's path in the sandbox (for an archive from the cache, where it would have been). */
  readonly path: string;
  /** miss: downloaded into the cache; hit: from the cache; bypass: cache asked but not used; none: not asked. */
  readonly cache: 'miss' | 'hit' | 'bypass' | 'none';
  /** Given as a hard link to the cached file. */
  readonly linked: boolean;
  readonly extracted: boolean;
}

interface Ctx {
  readonly req: FetchRequest;
  readonly ids: Ids | undefined;
  readonly log: SandboxLog;
  readonly held: CacheEntry[];
  /** Set when the task runs as another user than the agent (root): the sandbox work is done as that user. */
  readonly asUser: AsUser | undefined;
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** Errors of a hard link from the cache after which the file is copied instead. */
const LINK_FALLBACK = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ELOOP', 'ENOSYS', 'EEXIST', 'ENOENT', 'ENOTDIR', 'NATIVE_NOT_BUILT']);

/**
 * Lines for the sandbox's stderr, never failing the fetch. The file is opened once, first
 * (O_NOFOLLOW), and written through that descriptor; lines are kept and written together when
 * the fetch ends (a cache hit costs one write), or earlier by `flush` (a long download's lines).
 */
class SandboxLog {
  private lines: string[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private constructor(private readonly fh: FileHandle | undefined) {}

  static async open(sandbox: string): Promise<SandboxLog> {
    const flags = fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW;
    return new SandboxLog(await open(join(sandbox, 'stderr'), flags, 0o644).catch(() => undefined));
  }

  /** The file belongs to the task's user, as the sandbox does. */
  async chown(ids: Ids): Promise<void> {
    await this.fh?.chown(ids.uid, ids.gid);
  }

  line(text: string): void {
    this.lines.push(`${new Date().toISOString()} fetcher: ${text}\n`);
  }

  flush(): Promise<unknown> {
    const fh = this.fh;
    if (!fh || this.lines.length === 0) return this.chain;
    const data = this.lines.join('');
    this.lines = [];
    this.chain = this.chain.then(() => fh.write(data)).catch(() => {});
    return this.chain;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.fh?.close().catch(() => {});
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

function toFetchError(uri: string, e: unknown): FetchError {
  if (e instanceof FetchError) return e;
  if (e instanceof SourceError) return new FetchError(uri, e.message, { code: e.aborted ? 'FETCH_ABORTED' : 'FETCH_FAILED' });
  if (e instanceof SinkError) return new FetchError(uri, e.message, { cause: e.cause });
  return new FetchError(uri, describeError(e), { cause: e });
}

/** Errors that a waiting request falls back from (to a direct download) instead of failing. */
function fallsBack(e: unknown): boolean {
  return e instanceof CacheFailure || (e instanceof SourceError && e.aborted);
}

export class Fetcher {
  readonly cache: FetcherCache;
  private readonly users = new UserLookup();
  private readonly log: Logger;
  private readonly stallTimeoutMs: number;
  private readonly progressIntervalMs: number;
  private readonly hardLinks: boolean;
  /** Counters behind the metrics. */
  readonly counts = { succeeded: 0, failed: 0, hits: 0, misses: 0, bypasses: 0, failures: 0, bytesDownloaded: 0, bytesFromCache: 0 };

  constructor(private readonly opts: FetcherOptions) {
    this.log = (opts.logger ?? silentLogger).child({ component: 'fetcher' });
    this.cache = new FetcherCache(opts.cacheDir, opts.cacheSizeBytes ?? DEFAULT_FETCHER_CACHE_SIZE, this.log);
    this.stallTimeoutMs = opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.progressIntervalMs = opts.progressIntervalMs ?? 5000;
    this.hardLinks = opts.hardLinks ?? true;
  }

  /**
   * Metrics for /metrics/snapshot: Mesos's (1.4+) `containerizer/fetcher/task_fetches_*` and
   * `cache_size_*`, and ours under the same prefix.
   */
  metrics(): [string, () => number][] {
    const c = this.counts;
    const p = 'containerizer/fetcher/';
    return [
      [`${p}task_fetches_succeeded`, () => c.succeeded],
      [`${p}task_fetches_failed`, () => c.failed],
      [`${p}cache_size_total_bytes`, () => this.cache.limit],
      [`${p}cache_size_used_bytes`, () => this.cache.used],
      [`${p}cache_hits`, () => c.hits],
      [`${p}cache_misses`, () => c.misses],
      [`${p}cache_bypasses`, () => c.bypasses],
      [`${p}cache_evictions`, () => this.cache.evictions],
      [`${p}cache_failures`, () => c.failures],
      [`${p}bytes_downloaded`, () => c.bytesDownloaded],
      [`${p}bytes_from_cache`, () => c.bytesFromCache],
    ];
  }

  /** Empty the cache directory and table. */
  async clearCache(): Promise<void> {
    await this.cache.clear();
  }

  /**
   * Rebuild the cache from its directory (at agent start; Mesos would wipe it): damaged entries
   * are dropped, the rest kept in LRU order within --fetcher_cache_size.
   */
  async recoverCache(): Promise<void> {
    await this.cache.recover();
  }

  /** Fetch every URI of `req` into its sandbox, in order. Throws a FetchError. */
  async fetch(req: FetchRequest): Promise<Fetched[]> {
    const t0 = performance.now();
    let current = req.uris[0]?.value ?? '';
    const log = await SandboxLog.open(req.sandbox);
    const held: CacheEntry[] = [];
    try {
      // Every URI is checked before anything is fetched.
      const plans = req.uris.map((u) => planUri(u, this.opts.frameworksHome));
      let ids: UserIds | undefined;
      let asUser: AsUser | undefined;
      if (req.user !== undefined) {
        ids = await this.users.ids(req.user);
        if (!ids) throw new FetchError(current, `the user '${req.user}' does not exist`);
        try {
          await chown(req.sandbox, ids.uid, ids.gid);
          await log.chown(ids);
        } catch (e) {
          throw new FetchError(current, `cannot give the sandbox to user '${req.user}': ${errnoText(e)}`);
        }
        // Root's own rights only for the user named root (a name that is a uid, "0", names no user).
        if (req.user !== 'root' && isRoot()) asUser = new AsUser({ name: req.user, ...ids }, req.sandbox, req.signal);
      }
      const ctx: Ctx = { req, ids, log, held, asUser };
      const out: Fetched[] = [];
      for (const plan of plans) {
        current = plan.uri.value;
        if (req.signal?.aborted) throw new FetchError(current, 'the fetch was aborted', { code: 'FETCH_ABORTED' });
        out.push(await this.fetchOne(plan, ctx));
      }
      this.counts.succeeded++;
      log.line(`Fetched ${out.length} URI(s) in ${((performance.now() - t0) / 1000).toFixed(3)} s`);
      return out;
    } catch (e) {
      this.counts.failed++;
      const err = toFetchError(current, e);
      log.line(err.message);
      this.log.warn({ containerId: req.containerId, uri: err.uri, reason: err.reason }, 'fetch failed');
      throw err;
    } finally {
      for (const h of held) this.cache.release(h);
      await log.close();
    }
  }

  private async fetchOne(plan: Plan, ctx: Ctx): Promise<Fetched> {
    const dest = join(ctx.req.sandbox, plan.name);
    if (plan.uri.cache) {
      const got = await this.viaCache(plan, ctx, dest);
      if (got) return got;
      this.counts.bypasses++;
    }
    await this.direct(plan, ctx, dest, undefined);
    return { uri: plan.uri.value, path: dest, cache: plan.uri.cache ? 'bypass' : 'none', linked: false, extracted: plan.archive !== undefined };
  }

  // -------------------------------------------------------------------------------------------
  // Through the cache

  /** The file through the cache; undefined when the request is to fall back to a direct download. */
  private async viaCache(plan: Plan, ctx: Ctx, dest: string): Promise<Fetched | undefined> {
    const user = ctx.req.user;
    const { entry, created } = this.cache.acquire(user, plan.uri.value, plan.basename);
    ctx.held.push(entry);
    let cache: Fetched['cache'] = 'hit';
    if (created) {
      this.counts.misses++;
      cache = 'miss';
      const filled = await this.fill(entry, plan, ctx, dest);
      if (filled === 'fallback') return undefined;
      if (filled === 'delivered') {
        this.counts.bypasses++;
        return { uri: plan.uri.value, path: dest, cache: 'bypass', linked: false, extracted: plan.archive !== undefined };
      }
    } else if (entry.state !== 'ready') {
      ctx.log.line(`Waiting for '${plan.uri.value}': another task is downloading it into the cache`);
      void ctx.log.flush();
      try {
        await waitOrAbort(entry.done, ctx.req.signal);
      } catch (e) {
        if (ctx.req.signal?.aborted) throw new FetchError(plan.uri.value, 'the fetch was aborted', { code: 'FETCH_ABORTED' });
        if (!fallsBack(e)) throw toFetchError(plan.uri.value, e);
        this.counts.failures++;
        ctx.log.line(`The cache could not hold '${plan.uri.value}' (${describeError(e)}); downloading it directly`);
        return undefined;
      }
    }
    if (cache === 'hit') {
      this.counts.hits++;
      const expected = plan.uri.sha256?.toLowerCase();
      if (expected !== undefined) {
        if (entry.sha256 === undefined) {
          try {
            entry.sha256 = await fileSha256(entry.path);
          } catch (e) {
            if (await gone(entry.path)) {
              this.cache.discard(entry);
              this.counts.failures++;
              ctx.log.line(`The cached file for '${plan.uri.value}' is gone; downloading it directly`);
              return undefined;
            }
            throw toFetchError(plan.uri.value, e);
          }
        }
        if (entry.sha256 !== expected) throw new FetchError(plan.uri.value, digestMismatch(expected, entry.sha256));
      }
    }
    try {
      const linked = await this.retrieve(entry, plan, ctx, dest);
      return { uri: plan.uri.value, path: dest, cache, linked, extracted: plan.archive !== undefined };
    } catch (e) {
      if (e instanceof SourceError || ctx.req.signal?.aborted) throw toFetchError(plan.uri.value, e);
      if (await gone(entry.path)) {
        // The cached file went missing behind our back: forget it, fetch directly.
        this.cache.discard(entry);
        this.counts.failures++;
        ctx.log.line(`The cached file for '${plan.uri.value}' is gone; downloading it directly`);
        return undefined;
      }
      throw toFetchError(plan.uri.value, e);
    }
  }

  /**
   * This request created the entry: download into the cache. 'cached' when the entry is ready;
   * 'delivered' when the file did not fit and was streamed straight into the sandbox instead;
   * 'fallback' when the cache failed and the request should fetch directly. A source failure
   * fails the entry (every waiter gets it) and is thrown.
   */
  private async fill(entry: CacheEntry, plan: Plan, ctx: Ctx, dest: string): Promise<'cached' | 'delivered' | 'fallback'> {
    const uri = plan.uri.value;
    const cacheFailed = (why: string, cause?: unknown): 'fallback' => {
      this.counts.failures++;
      void this.cache.fail(entry, new CacheFailure(why, cause));
      ctx.log.line(`The cache could not hold '${uri}' (${why}); downloading it directly`);
      return 'fallback';
    };
    const notCached = (why: string): void => {
      void this.cache.fail(entry, new CacheFailure(why));
      ctx.log.line(`'${uri}' bypasses the cache: ${why}`);
    };
    try {
      await this.cache.ensureDir(ctx.req.user);
    } catch (e) {
      return cacheFailed(`cannot create the cache directory: ${errnoText(e)}`, e);
    }
    entry.mode = (plan.executable ? 0o555 : 0o444) & (ctx.req.user === undefined ? 0o700 : 0o777);
    const progress: Progress = { bytes: 0 };
    const expected = plan.uri.sha256?.toLowerCase();
    let bytes: number;
    try {
      if (plan.source.kind === 'local') {
        // Read with the task user's rights: the cache holds only what that user could read.
        const size = ctx.asUser ? await ctx.asUser.sourceSize(plan.source.path) : await localSize(plan.source.path);
        if (!this.cache.reserve(entry, size)) {
          notCached(this.tooBig(size));
          await this.direct(plan, ctx, dest, undefined);
          return 'delivered';
        }
        ctx.log.line(`Copying '${uri}' (${mib(size)}) into the cache`);
        if (ctx.asUser) await readAsUser(ctx.asUser, plan.source.path, entry.partialPath, size);
        else await copyLocal(plan.source.path, entry.partialPath, true);
        bytes = size;
        if (expected !== undefined) entry.sha256 = await fileSha256(entry.partialPath);
      } else {
        const body = await openHttp(plan.source.url, { stallTimeoutMs: this.stallTimeoutMs, ...(ctx.req.signal ? { signal: ctx.req.signal } : {}) });
        if (body.size === undefined || !this.cache.reserve(entry, body.size)) {
          notCached(body.size === undefined ? 'the server did not say its size (no Content-Length)' : this.tooBig(body.size));
          await this.direct(plan, ctx, dest, body);
          return 'delivered';
        }
        ctx.log.line(`Downloading '${uri}' (${mib(body.size)}) into the cache`);
        // Hashing costs about as much as the download on loopback: only when the URI asks for it.
        const hash = expected === undefined ? undefined : createHash('sha256');
        bytes = await this.withProgress(ctx, uri, progress, body.size, () =>
          receive(body, entry.partialPath, { mode: 0o600, exclusive: true }, { progress, ...(hash ? { hash } : {}), ...(ctx.req.signal ? { signal: ctx.req.signal } : {}) }),
        );
        if (hash) entry.sha256 = hash.digest('hex');
      }
      // Verified once, as the file enters the cache: a mismatch caches nothing and fails every waiter.
      if (expected !== undefined && entry.sha256 !== expected) throw new SourceError(digestMismatch(expected, entry.sha256 ?? '?'));
      this.counts.bytesDownloaded += bytes;
      await rename(entry.partialPath, entry.path);
      const done = await open(entry.path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      try {
        await done.chmod(entry.mode);
      } finally {
        await done.close();
      }
      await this.cache.persist(entry, bytes);
    } catch (e) {
      if (entry.state === 'gone') throw e; // already failed (it bypassed the cache)
      if (e instanceof SourceError) {
        this.counts.bytesDownloaded += progress.bytes;
        await this.cache.fail(entry, e); // a failed download leaves no file behind
        throw toFetchError(uri, e);
      }
      return cacheFailed(e instanceof SinkError ? e.message : errnoText(e), e);
    }
    this.cache.complete(entry, bytes);
    return 'cached';
  }

  private tooBig(size: number): string {
    return size > this.cache.limit
      ? `its size (${size} bytes) exceeds the whole cache (--fetcher_cache_size ${this.cache.limit} bytes)`
      : `no room for ${size} bytes: the cache's entries are in use`;
  }

  /** Give a ready cache entry to the sandbox. True when it was hard-linked. */
  private async retrieve(entry: CacheEntry, plan: Plan, ctx: Ctx, dest: string): Promise<boolean> {
    this.counts.bytesFromCache += entry.size;
    if (plan.archive) {
      ctx.log.line(`Extracting '${plan.uri.value}' from the cache`);
      await this.extractInto(plan, ctx, entry.path, dest, true);
      return false;
    }
    if (ctx.asUser) {
      if (this.hardLinks && entry.mode === (plan.executable ? 0o555 : 0o444)) {
        // The user makes the directories and clears the name (root does that for a name at the
        // top: unlink and lstat follow no symlink); root links below the sandbox following no
        // symlink (the user cannot link a file of root's itself).
        if (plan.name.includes('/')) await ctx.asUser.prepare(plan.name);
        else await clearName(dest, plan.name);
        try {
          linkBeneath(entry.path, ctx.req.sandbox, posix.dirname(plan.name), posix.basename(plan.name));
          ctx.log.line(`Linked '${plan.uri.value}' from the cache to '${plan.name}' (read-only)`);
          return true;
        } catch (e) {
          // Another filesystem, a symlink or a mount on the way, a name taken meanwhile, an old
          // kernel, no addon: the user gets a copy instead.
          const code = (e as { code?: unknown }).code;
          if (!(typeof code === 'string' && LINK_FALLBACK.has(code))) throw new SinkError(`cannot link ${entry.path} to ${dest}: ${errnoText(e)}`, e);
        }
      }
      await deliverAsUser(ctx.asUser, entry.path, plan.name, plan.executable ? 0o755 : 0o644);
      ctx.log.line(`Copied '${plan.uri.value}' from the cache to '${plan.name}'`);
      return false;
    }
    await this.prepareDest(ctx, plan.name);
    await copyLocal(entry.path, dest, true);
    await this.finishFile(plan, ctx, dest);
    ctx.log.line(`Copied '${plan.uri.value}' from the cache to '${plan.name}'`);
    return false;
  }

  // -------------------------------------------------------------------------------------------
  // Directly into the sandbox

  /** Download or copy into the sandbox (using `body` when the response is already open), then extract. */
  private async direct(plan: Plan, ctx: Ctx, dest: string, body: HttpBody | undefined): Promise<void> {
    if (ctx.asUser) return this.directAsUser(plan, ctx, ctx.asUser, dest, body);
    const uri = plan.uri.value;
    await this.prepareDest(ctx, plan.name);
    if (plan.source.kind === 'local') {
      const size = await localSize(plan.source.path);
      ctx.log.line(`Copying '${uri}' (${mib(size)}) to '${plan.name}'`);
      await copyLocal(plan.source.path, dest, true);
      this.counts.bytesDownloaded += size;
      if (plan.uri.sha256 !== undefined) await verifyFile(plan.uri.sha256.toLowerCase(), await fileSha256(dest), dest);
      await this.finishFile(plan, ctx, dest);
    } else {
      const res = body ?? (await openHttp(plan.source.url, { stallTimeoutMs: this.stallTimeoutMs, ...(ctx.req.signal ? { signal: ctx.req.signal } : {}) }));
      const progress: Progress = { bytes: 0 };
      ctx.log.line(`Downloading '${uri}'${res.size === undefined ? '' : ` (${mib(res.size)})`} to '${plan.name}'`);
      try {
        const file = { mode: plan.executable ? 0o755 : 0o644, owner: ctx.ids, exclusive: true };
        const hash = plan.uri.sha256 === undefined ? undefined : createHash('sha256');
        await this.withProgress(ctx, uri, progress, res.size, () =>
          receive(res, dest, file, { progress, ...(hash ? { hash } : {}), ...(ctx.req.signal ? { signal: ctx.req.signal } : {}) }),
        );
        if (hash) await verifyFile(plan.uri.sha256!.toLowerCase(), hash.digest('hex'), dest);
      } finally {
        this.counts.bytesDownloaded += progress.bytes;
      }
    }
    if (plan.archive) {
      ctx.log.line(`Extracting '${plan.name}'`);
      await this.extractInto(plan, ctx, dest, dest);
    }
  }

  /**
   * direct() for a task of another user: a local file is copied by the user; a download goes to
   * a scratch file in the cache directory (the agent's), is verified there, and is then written
   * into the sandbox by the user.
   */
  private async directAsUser(plan: Plan, ctx: Ctx, asUser: AsUser, dest: string, body: HttpBody | undefined): Promise<void> {
    const uri = plan.uri.value;
    const mode = plan.executable ? 0o755 : 0o644;
    const expected = plan.uri.sha256?.toLowerCase();
    if (plan.source.kind === 'local') {
      ctx.log.line(`Copying '${uri}' to '${plan.name}' as user '${asUser.user.name}'`);
      this.counts.bytesDownloaded += await asUser.copyIn(plan.source.path, plan.name, mode, expected);
    } else {
      const res = body ?? (await openHttp(plan.source.url, { stallTimeoutMs: this.stallTimeoutMs, ...(ctx.req.signal ? { signal: ctx.req.signal } : {}) }));
      let scratch: string;
      try {
        scratch = await this.cache.scratchPath(ctx.req.user, plan.basename);
      } catch (e) {
        res.response.destroy();
        throw new SinkError(`cannot create a scratch file in the cache directory: ${errnoText(e)}`, e);
      }
      const progress: Progress = { bytes: 0 };
      ctx.log.line(`Downloading '${uri}'${res.size === undefined ? '' : ` (${mib(res.size)})`} to '${plan.name}'`);
      try {
        const hash = expected === undefined ? undefined : createHash('sha256');
        await this.withProgress(ctx, uri, progress, res.size, () =>
          receive(res, scratch, { mode: 0o644, exclusive: true }, { progress, ...(hash ? { hash } : {}), ...(ctx.req.signal ? { signal: ctx.req.signal } : {}) }),
        );
        if (hash) await verifyFile(expected!, hash.digest('hex'), scratch);
        await deliverAsUser(asUser, scratch, plan.name, mode);
      } finally {
        this.counts.bytesDownloaded += progress.bytes;
        await rm(scratch, { force: true }).catch(() => {});
      }
    }
    if (plan.archive) {
      ctx.log.line(`Extracting '${plan.name}'`);
      await this.extractInto(plan, ctx, dest, dest);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Sandbox files

  /**
   * Make the directories of `name` inside the sandbox (given to the user) and clear the way for
   * the file: nothing on the path may be a symlink (an earlier archive could have planted one
   * pointing out of the sandbox), and an old file or link of that name is removed.
   */
  private async prepareDest(ctx: Ctx, name: string): Promise<void> {
    const parts = name.split('/');
    let dir = ctx.req.sandbox;
    for (const part of parts.slice(0, -1)) {
      dir = join(dir, part);
      const st = await lstat(dir).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return undefined;
        throw e;
      });
      if (st === undefined) {
        await mkdir(dir, { mode: 0o755 });
        if (ctx.ids) await lchown(dir, ctx.ids.uid, ctx.ids.gid);
      } else if (!st.isDirectory()) {
        throw new SourceError(`'${name}' cannot be written: '${parts.slice(0, parts.indexOf(part) + 1).join('/')}' in the sandbox is not a directory`);
      }
    }
    const dest = join(ctx.req.sandbox, name);
    const st = await lstat(dest).catch(() => undefined);
    if (st?.isDirectory()) throw new SourceError(`'${name}' is a directory in the sandbox`);
    if (st) await unlink(dest);
  }

  /** Mode (0755 for executables, else 0644) and owner of a file copied into the sandbox. */
  private async finishFile(plan: Plan, ctx: Ctx, path: string): Promise<void> {
    try {
      if (!(await lstat(path)).isFile()) throw new Error('it is no longer the file that was copied');
      await chmod(path, plan.executable ? 0o755 : 0o644);
      if (ctx.ids) await lchown(path, ctx.ids.uid, ctx.ids.gid);
    } catch (e) {
      throw new SinkError(`cannot set the mode or owner of ${path}: ${errnoText(e)}`, e);
    }
  }

  /**
   * Extract an archive into the sandbox as the task's user; a .gz becomes `<dest without .gz>`.
   * The sandbox's stdout and stderr must still be plain files afterwards: the task's output goes
   * there, opened by root.
   */
  private async extractInto(plan: Plan, ctx: Ctx, archive: string, dest: string, agentFile = false): Promise<void> {
    const gzTarget = dest.replace(/\.gz$/i, '');
    if (plan.archive === 'gz' && !ctx.asUser) await this.prepareDest(ctx, plan.name.replace(/\.gz$/i, ''));
    // The user's tools cannot open the agent's files (the cache): they get it open, as their stdin.
    const fh = ctx.asUser && agentFile ? await open(archive, 'r') : undefined;
    try {
      await extract(plan.archive!, fh ? '/dev/stdin' : archive, ctx.req.sandbox, gzTarget, {
        ...(ctx.asUser ? { asUser: ctx.asUser } : {}),
        ...(fh ? { archiveFd: fh.fd } : {}),
        ...(ctx.req.signal ? { signal: ctx.req.signal } : {}),
        log: (l) => ctx.log.line(l),
      });
    } finally {
      await fh?.close();
    }
    for (const name of ['stdout', 'stderr']) {
      const st = await lstat(join(ctx.req.sandbox, name)).catch(() => undefined);
      if (st && !st.isFile()) throw new SourceError(`the archive put a ${st.isSymbolicLink() ? 'symlink' : 'non-file'} at '${name}' in the sandbox, where the task's output goes`);
    }
  }

  /** Run a download, logging its progress to the sandbox at once and every progressIntervalMs. */
  private async withProgress<T>(ctx: Ctx, uri: string, progress: Progress, total: number | undefined, run: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    void ctx.log.flush(); // "Downloading ..." shows at once
    const timer = setInterval(() => {
      const secs = (performance.now() - t0) / 1000;
      const pct = total ? ` of ${mib(total)} (${Math.floor((100 * progress.bytes) / total)}%)` : '';
      ctx.log.line(`'${uri}': ${mib(progress.bytes)}${pct} after ${secs.toFixed(0)} s, ${mib(progress.bytes / Math.max(secs, 0.001))}/s`);
      void ctx.log.flush();
    }, this.progressIntervalMs);
    timer.unref();
    try {
      return await run();
    } finally {
      clearInterval(timer);
    }
  }
}

function digestMismatch(expected: string, actual: string): string {
  return `sha256 mismatch: expected ${expected}, got ${actual}`;
}

/** A direct download's digest check: on a mismatch the file leaves the sandbox and the fetch fails. */
async function verifyFile(expected: string, actual: string, path: string): Promise<void> {
  if (actual === expected) return;
  await unlink(path).catch(() => {});
  throw new SourceError(digestMismatch(expected, actual));
}

/** Copy the local file `src` into the agent's new file `path` (the cache's), reading it as the user. */
async function readAsUser(asUser: AsUser, src: string, path: string, size: number): Promise<void> {
  let fh;
  try {
    fh = await open(path, NEW_FILE, 0o600);
  } catch (e) {
    throw new SinkError(`cannot create ${path}: ${errnoText(e)}`, e);
  }
  try {
    await asUser.readInto(src, fh.fd);
    const got = (await fh.stat()).size;
    if (got !== size) throw new SourceError(`'${src}' changed while it was copied (${size} bytes, then ${got})`);
  } finally {
    await fh.close();
  }
}

/** Give the agent's file `path` (a cache entry, a download) to the user, who writes it at `name` in the sandbox. */
async function deliverAsUser(asUser: AsUser, path: string, name: string, mode: number): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await asUser.deliver(fh.fd, name, mode);
  } finally {
    await fh.close();
  }
}

/** Remove what is at `path` (a name directly in the sandbox), unless it is a directory. */
async function clearName(path: string, name: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (st?.isDirectory()) throw new SourceError(`'${name}' is a directory in the sandbox`);
  if (st) await unlink(path).catch(() => {}); // a failure shows as EEXIST: a copy then
}

async function gone(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return false;
  } catch {
    return true;
  }
}

function waitOrAbort(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
