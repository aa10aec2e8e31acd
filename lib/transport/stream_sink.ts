/**
 * A sink of events written as RecordIO records to a response stream. Events sent before the
 * stream is attached (a subscription answers before its headers can be sent) are buffered and
 * flushed, in order, on attach. Once the stream is closed (by the server, the client, or for
 * a backlog its client did not read), events are dropped without being encoded.
 */
import type { Sink } from '../common/sink.ts';
import type { ResponseStream } from './http_types.ts';

export class StreamSink<E> implements Sink<E> {
  private stream: ResponseStream | undefined;
  private readonly buffered: E[] = [];
  private ended = false;

  constructor(private readonly encode: (event: E) => string) {}

  attach(stream: ResponseStream): void {
    this.stream = stream;
    for (const e of this.buffered.splice(0)) stream.writeRecord(this.encode(e));
    if (this.ended) stream.end();
  }

  send(event: E): void {
    if (this.ended) return;
    if (!this.stream) this.buffered.push(event);
    else if (!this.stream.closed) this.stream.writeRecord(this.encode(event));
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.stream?.end();
  }

  get closed(): boolean {
    return this.ended || (this.stream?.closed ?? false);
  }
}
