/**
 * A URI fetched through the cache: downloaded into it once per (user, URI) by the request that
 * created the entry while the others wait, checked against its digest, then given to the
 * sandbox (extracted, hard-linked or copied). Trouble in the cache itself makes the request
 * fall back to a direct download.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { lstat, open, rename, rm } from 'node:fs/promises';
import { posix } from 'node:path';
import { describeError } from '../../common/errors.ts';
import { linkBeneath } from '../../linux/index.ts';
import type { AsUser } from './as_user.ts';
import { type CacheEntry, type FetcherCache, NEW_FILE } from './cache.ts';
import type { DirectFetcher } from './direct.ts';
import { type Progress, type Tee, copyLocal, fileSha256, localSize, openHttp, receive } from './download.ts';
import { CacheFailure, FetchError, SinkError, SourceError, errnoText } from './errors.ts';
import { type Ctx, type FetchCounts, type Fetched, fallsBack, toFetchError } from './request.ts';
import { clearName, deliverAsUser, digestMismatch, extractInto, finishFile, prepareDest } from './sandbox.ts';
import { mib, withProgress } from './sandbox_log.ts';
import type { Plan } from './uri.ts';

/** Errors of a hard link from the cache after which the file is copied instead. */
const LINK_FALLBACK = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ELOOP', 'ENOSYS', 'EEXIST', 'ENOENT', 'ENOTDIR', 'NATIVE_NOT_BUILT']);

export class CachedFetcher {
  constructor(
    private readonly cache: FetcherCache,
    private readonly counts: FetchCounts,
    private readonly direct: DirectFetcher,
    private readonly stallTimeoutMs: number,
    private readonly progressIntervalMs: number,
    private readonly hardLinks: boolean,
  ) {}

  /** The file through the cache; undefined when the request is to fall back to a direct download. */
  async viaCache(plan: Plan, ctx: Ctx, dest: string): Promise<Fetched | undefined> {
    const user = ctx.req.user;
    const { entry, created } = this.cache.acquire(user, plan.uri.value, plan.basename);
    ctx.held.push(entry);
    let cache: Fetched['cache'] = 'hit';
    let tee: Tee | undefined;
    if (created) {
      this.counts.misses++;
      cache = 'miss';
      // A copy for the sandbox (no task user, no archive) is written as the download arrives.
      if (!ctx.asUser && !plan.archive && plan.source.kind !== 'local') {
        try {
          await prepareDest(ctx, plan.name);
          tee = { path: dest, file: { mode: 0o600, exclusive: true }, written: false };
        } catch {
          // retrieve() says what is wrong with the sandbox
        }
      }
      const filled = await this.fill(entry, plan, ctx, dest, tee);
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
            return this.unlessGone(entry, plan, ctx, e);
          }
        }
        if (entry.sha256 !== expected) throw new FetchError(plan.uri.value, digestMismatch(expected, entry.sha256));
      }
    }
    if (tee?.written) {
      // The sandbox's copy was written with the cache's file, and the entry is ready.
      this.counts.bytesFromCache += entry.size;
      await finishFile(plan, ctx, dest);
      ctx.log.line(`Copied '${plan.uri.value}' to '${plan.name}' as it entered the cache`);
      return { uri: plan.uri.value, path: dest, cache, linked: false, extracted: false };
    }
    try {
      const linked = await this.retrieve(entry, plan, ctx, dest);
      return { uri: plan.uri.value, path: dest, cache, linked, extracted: plan.archive !== undefined };
    } catch (e) {
      if (e instanceof SourceError || ctx.req.signal?.aborted) throw toFetchError(plan.uri.value, e);
      return this.unlessGone(entry, plan, ctx, e);
    }
  }

  /**
   * A step on a ready entry's file failed with `e`. When the cached file went missing behind our
   * back: forget it, and undefined (the request fetches directly). Else `e` fails the fetch.
   */
  private async unlessGone(entry: CacheEntry, plan: Plan, ctx: Ctx, e: unknown): Promise<undefined> {
    if (!(await gone(entry.path))) throw toFetchError(plan.uri.value, e);
    this.cache.discard(entry);
    this.counts.failures++;
    ctx.log.line(`The cached file for '${plan.uri.value}' is gone; downloading it directly`);
    return undefined;
  }

  /**
   * This request created the entry: download into the cache. 'cached' when the entry is ready;
   * 'delivered' when the file did not fit and was streamed straight into the sandbox instead;
   * 'fallback' when the cache failed and the request should fetch directly. A source failure
   * fails the entry (every waiter gets it) and is thrown.
   */
  private async fill(entry: CacheEntry, plan: Plan, ctx: Ctx, dest: string, tee: Tee | undefined): Promise<'cached' | 'delivered' | 'fallback'> {
    const result = await this.fillCache(entry, plan, ctx, dest, tee).catch(async (e: unknown) => {
      await this.dropTee(tee);
      throw e;
    });
    if (result !== 'cached') await this.dropTee(tee);
    return result;
  }

  /** The sandbox copy written during a download that did not make a ready entry: removed (what follows makes its own). */
  private async dropTee(tee: Tee | undefined): Promise<void> {
    if (!tee?.written) return;
    tee.written = false;
    await rm(tee.path, { force: true });
  }

  private async fillCache(entry: CacheEntry, plan: Plan, ctx: Ctx, dest: string, tee: Tee | undefined): Promise<'cached' | 'delivered' | 'fallback'> {
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
          await this.direct.fetch(plan, ctx, dest, undefined);
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
          await this.direct.fetch(plan, ctx, dest, body);
          return 'delivered';
        }
        ctx.log.line(`Downloading '${uri}' (${mib(body.size)}) into the cache`);
        // Hashing costs about as much as the download on loopback: only when the URI asks for it.
        const hash = expected === undefined ? undefined : createHash('sha256');
        bytes = await withProgress(ctx.log, this.progressIntervalMs, uri, progress, body.size, () =>
          receive(
            body,
            entry.partialPath,
            { mode: 0o600, exclusive: true },
            { progress, ...(hash ? { hash } : {}), ...(tee ? { tee } : {}), ...(ctx.req.signal ? { signal: ctx.req.signal } : {}) },
          ),
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
      await extractInto(plan, ctx, entry.path, dest, true);
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
    await prepareDest(ctx, plan.name);
    await copyLocal(entry.path, dest, true);
    await finishFile(plan, ctx, dest);
    ctx.log.line(`Copied '${plan.uri.value}' from the cache to '${plan.name}'`);
    return false;
  }
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
