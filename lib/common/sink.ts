/**
 * Where events for one subscriber go: an HTTP stream in production (transport's StreamSink), an
 * array in tests. The master's schedulers and agents and the agent's executors each get one.
 */
export interface Sink<E> {
  send(event: E): void;
  close(): void;
  readonly closed: boolean;
}
