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
import { chown } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, silentLogger } from '../../common/log.ts';
import { AsUser } from './as_user.ts';
import { type CacheEntry, FetcherCache } from './cache.ts';
import { DirectFetcher } from './direct.ts';
import { FetchError, errnoText } from './errors.ts';
import { type Ctx, type FetchCounts, type FetchRequest, type Fetched, toFetchError } from './request.ts';
import { SandboxLog } from './sandbox_log.ts';
import { type Plan, planUri } from './uri.ts';
import { type UserIds, UserLookup } from './users.ts';
import { CachedFetcher } from './via_cache.ts';

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

const isRoot = (): boolean => process.getuid?.() === 0;

export class Fetcher {
  readonly cache: FetcherCache;
  private readonly users = new UserLookup();
  private readonly log: Logger;
  private readonly direct: DirectFetcher;
  private readonly cached: CachedFetcher;
  /** Counters behind the metrics. */
  readonly counts: FetchCounts = { succeeded: 0, failed: 0, hits: 0, misses: 0, bypasses: 0, failures: 0, bytesDownloaded: 0, bytesFromCache: 0 };

  constructor(private readonly opts: FetcherOptions) {
    this.log = (opts.logger ?? silentLogger).child({ component: 'fetcher' });
    this.cache = new FetcherCache(opts.cacheDir, opts.cacheSizeBytes ?? DEFAULT_FETCHER_CACHE_SIZE, this.log);
    const stallTimeoutMs = opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    const progressIntervalMs = opts.progressIntervalMs ?? 5000;
    this.direct = new DirectFetcher(this.cache, this.counts, stallTimeoutMs, progressIntervalMs);
    this.cached = new CachedFetcher(this.cache, this.counts, this.direct, stallTimeoutMs, progressIntervalMs, opts.hardLinks ?? true);
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
      const got = await this.cached.viaCache(plan, ctx, dest);
      if (got) return got;
      this.counts.bypasses++;
    }
    await this.direct.fetch(plan, ctx, dest, undefined);
    return { uri: plan.uri.value, path: dest, cache: plan.uri.cache ? 'bypass' : 'none', linked: false, extracted: plan.archive !== undefined };
  }
}
