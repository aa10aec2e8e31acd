/** A streamed response (see ResponseStream): one HTTP chunk per write, its unread backlog bounded. */
import type { ServerResponse } from 'node:http';
import { encodeRecord } from '../proto/recordio.ts';
import type { ResponseStream } from './http_types.ts';

export class ServerStream implements ResponseStream {
  private ended = false;
  private gone = false;
  private overflow: number | undefined;
  private callbacks: (() => void)[] = [];

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBacklog: number,
  ) {
    // The client half-closed its connection. Node answers by ending the socket once what is
    // queued is flushed, which a client that does not read never lets happen: the queued bytes
    // stayed, the stream looked open and later writes were dropped. The client is gone: drop
    // the connection and what is queued for it.
    const socket = res.socket;
    const onClientEnd = (): void => {
      if (!res.destroyed) res.destroy();
    };
    socket?.once('end', onClientEnd);
    res.once('close', () => {
      socket?.off('end', onClientEnd);
      this.gone = true;
      const cbs = this.callbacks;
      this.callbacks = [];
      for (const cb of cbs) cb();
    });
  }

  get closed(): boolean {
    return this.ended || this.gone || this.res.destroyed;
  }

  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  get overflowBytes(): number | undefined {
    return this.overflow;
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.closed) return false;
    if (chunk.length === 0) return true; // an empty chunk would end the body
    return this.res.write(chunk) || this.withinBacklog();
  }

  writeRecord(payload: string | Uint8Array): boolean {
    if (this.closed) return false;
    const p = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    return this.res.write(encodeRecord(p)) || this.withinBacklog();
  }

  /**
   * After a write that left the socket over its high-water mark (the only time the backlog can
   * have grown): past the limit, the stream is closed and the connection dropped with what is
   * queued. Returns false either way (the caller should wait for drained()).
   */
  private withinBacklog(): false {
    const backlog = this.res.writableLength;
    if (backlog <= this.maxBacklog || this.ended) return false;
    this.overflow = backlog;
    this.ended = true;
    this.res.destroy();
    return false;
  }

  drained(): Promise<void> {
    if (this.closed || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.gone && !this.res.destroyed) this.res.end();
  }

  onClose(cb: () => void): void {
    if (this.gone) queueMicrotask(cb);
    else this.callbacks.push(cb);
  }
}
