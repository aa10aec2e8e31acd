/**
 * The scheduler-API server the transport and TLS benchmarks measure against: POST
 * /api/v1/scheduler answers 202, and a SUBSCRIBE gets a RecordIO stream of `events` UPDATE
 * events (backpressure respected), timed from its first to its last byte.
 */
import { double, stringifyWire } from '../lib/proto/json_text.ts';
import { HttpServer } from '../lib/transport/http_server.ts';

export interface StreamResult {
  ms: number;
  bytes: number;
  events: number;
}

/** A v1 UPDATE event of a usual size (~250 B as JSON). */
export function schedulerEvent(i: number): object {
  return {
    type: 'UPDATE',
    update: {
      status: {
        task_id: { value: `task-${i}` },
        state: 'TASK_RUNNING',
        agent_id: { value: '2b1d8a0e-5c4f-4d3a-9e2b-7f6a5c4d3e2f-S0' },
        timestamp: double(1700000000 + i / 1000),
        uuid: 'AAECAwQFBgcICQoLDA0ODw==',
        source: 'SOURCE_EXECUTOR',
      },
    },
  };
}

export function schedulerServer(options: ConstructorParameters<typeof HttpServer>[0], events: number): { server: HttpServer; lastStream: () => StreamResult } {
  let last: StreamResult = { ms: 0, bytes: 0, events: 0 };
  const server = new HttpServer({ host: '127.0.0.1', port: 0, ...options });
  server.route({
    path: '/api/v1/scheduler',
    methods: ['POST'],
    handler: async (req) => {
      const call = (await req.readJson()) as { type?: string };
      if (call.type !== 'SUBSCRIBE') return { status: 202 };
      const st = req.startStream(200, { 'Content-Type': 'application/json', 'Mesos-Stream-Id': 'bench' });
      const t0 = performance.now();
      let bytes = 0;
      let i = 0;
      for (; i < events && !st.closed; i++) {
        const text = stringifyWire(schedulerEvent(i));
        bytes += text.length;
        if (!st.writeRecord(text)) await st.drained();
      }
      st.end();
      st.onClose(() => {
        last = { ms: performance.now() - t0, bytes, events: i };
      });
      return st;
    },
  });
  return { server, lastStream: () => last };
}
