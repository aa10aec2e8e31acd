/** The fetcher's lines in the sandbox's `stderr`, and the progress of a running download. */
import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Progress } from './download.ts';
import type { Ids } from './extract.ts';

/**
 * Lines for the sandbox's stderr, never failing the fetch. The file is opened once, first
 * (O_NOFOLLOW), and written through that descriptor; lines are kept and written together when
 * the fetch ends (a cache hit costs one write), or earlier by `flush` (a long download's lines).
 */
export class SandboxLog {
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

export function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** Run a download, logging its progress to the sandbox at once and every progressIntervalMs. */
export async function withProgress<T>(
  log: SandboxLog,
  progressIntervalMs: number,
  uri: string,
  progress: Progress,
  total: number | undefined,
  run: () => Promise<T>,
): Promise<T> {
  const t0 = performance.now();
  void log.flush(); // "Downloading ..." shows at once
  const timer = setInterval(() => {
    const secs = (performance.now() - t0) / 1000;
    const pct = total ? ` of ${mib(total)} (${Math.floor((100 * progress.bytes) / total)}%)` : '';
    log.line(`'${uri}': ${mib(progress.bytes)}${pct} after ${secs.toFixed(0)} s, ${mib(progress.bytes / Math.max(secs, 0.001))}/s`);
    void log.flush();
  }, progressIntervalMs);
  timer.unref();
  try {
    return await run();
  } finally {
    clearInterval(timer);
  }
}
