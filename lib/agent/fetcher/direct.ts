/** A URI fetched straight into the sandbox, without the cache. */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { AsUser } from './as_user.ts';
import type { FetcherCache } from './cache.ts';
import { type HttpBody, type Progress, copyLocal, fileSha256, localSize, openHttp, receive } from './download.ts';
import { SinkError, errnoText } from './errors.ts';
import type { Ctx, FetchCounts } from './request.ts';
import { deliverAsUser, extractInto, finishFile, prepareDest, verifyFile } from './sandbox.ts';
import { mib, withProgress } from './sandbox_log.ts';
import type { Plan } from './uri.ts';

export class DirectFetcher {
  constructor(
    private readonly cache: FetcherCache,
    private readonly counts: FetchCounts,
    private readonly stallTimeoutMs: number,
    private readonly progressIntervalMs: number,
  ) {}

  /** Download or copy into the sandbox (using `body` when the response is already open), then extract. */
  async fetch(plan: Plan, ctx: Ctx, dest: string, body: HttpBody | undefined): Promise<void> {
    if (ctx.asUser) return this.fetchAsUser(plan, ctx, ctx.asUser, dest, body);
    const uri = plan.uri.value;
    await prepareDest(ctx, plan.name);
    if (plan.source.kind === 'local') {
      const size = await localSize(plan.source.path);
      ctx.log.line(`Copying '${uri}' (${mib(size)}) to '${plan.name}'`);
      await copyLocal(plan.source.path, dest, true);
      this.counts.bytesDownloaded += size;
      if (plan.uri.sha256 !== undefined) await verifyFile(plan.uri.sha256.toLowerCase(), await fileSha256(dest), dest);
      await finishFile(plan, ctx, dest);
    } else {
      const res = body ?? (await openHttp(plan.source.url, { stallTimeoutMs: this.stallTimeoutMs, ...(ctx.req.signal ? { signal: ctx.req.signal } : {}) }));
      const progress: Progress = { bytes: 0 };
      ctx.log.line(`Downloading '${uri}'${res.size === undefined ? '' : ` (${mib(res.size)})`} to '${plan.name}'`);
      try {
        const file = { mode: plan.executable ? 0o755 : 0o644, owner: ctx.ids, exclusive: true };
        const hash = plan.uri.sha256 === undefined ? undefined : createHash('sha256');
        await withProgress(ctx.log, this.progressIntervalMs, uri, progress, res.size, () =>
          receive(res, dest, file, { progress, ...(hash ? { hash } : {}), ...(ctx.req.signal ? { signal: ctx.req.signal } : {}) }),
        );
        if (hash) await verifyFile(plan.uri.sha256!.toLowerCase(), hash.digest('hex'), dest);
      } finally {
        this.counts.bytesDownloaded += progress.bytes;
      }
    }
    if (plan.archive) {
      ctx.log.line(`Extracting '${plan.name}'`);
      await extractInto(plan, ctx, dest, dest);
    }
  }

  /**
   * fetch() for a task of another user: a local file is copied by the user; a download goes to
   * a scratch file in the cache directory (the agent's), is verified there, and is then written
   * into the sandbox by the user.
   */
  private async fetchAsUser(plan: Plan, ctx: Ctx, asUser: AsUser, dest: string, body: HttpBody | undefined): Promise<void> {
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
        await withProgress(ctx.log, this.progressIntervalMs, uri, progress, res.size, () =>
          receive(
            res,
            scratch,
            { mode: 0o644, exclusive: true },
            { progress, ...(hash ? { hash } : {}), ...(ctx.req.signal ? { signal: ctx.req.signal } : {}) },
          ),
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
      await extractInto(plan, ctx, dest, dest);
    }
  }
}
