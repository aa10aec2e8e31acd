/**
 * The event stream at the socket level: SUBSCRIBE written by hand on a net.Socket, the chunked
 * transfer coding parsed by hand. Each HTTP chunk must hold exactly one complete RecordIO
 * record (the npm Mesos client depends on it), the second record is the 20-byte heartbeat
 * byte for byte, and non-ASCII text arrives escaped as \uXXXX with a byte count that is right.
 */
import { connect, type Socket } from 'node:net';
import test from 'ava';
import { type Json, USER, commandTask, request, startCluster } from '../helpers/cluster.ts';

interface RawStream {
  readonly socket: Socket;
  readonly statusLine: string;
  readonly headers: Map<string, string>;
  /** The data of each HTTP chunk, in order (the terminating empty chunk excluded). */
  readonly chunks: Buffer[];
  /** Resolves when `n` chunks are in. */
  chunk(n: number, timeoutMs?: number): Promise<Buffer>;
  /** Resolves with the first chunk (at index ≥ from) whose text matches. */
  find(re: RegExp, from?: number, timeoutMs?: number): Promise<{ index: number; data: Buffer }>;
}

/** POST `body` to `path` on a raw socket and parse the chunked response as it arrives. */
function rawSubscribe(port: number, body: string): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const payload = Buffer.from(body, 'utf8');
    socket.on('connect', () => {
      socket.write(
        `POST /api/v1/scheduler HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`,
      );
      socket.write(payload);
    });
    let buf = Buffer.alloc(0);
    let head: { statusLine: string; headers: Map<string, string> } | undefined;
    const chunks: Buffer[] = [];
    let waiters: (() => void)[] = [];
    let error: Error | undefined;
    const wake = () => {
      const ws = waiters;
      waiters = [];
      for (const w of ws) w();
    };
    const stream: RawStream = {
      socket,
      get statusLine() {
        return head!.statusLine;
      },
      get headers() {
        return head!.headers;
      },
      chunks,
      chunk(n, timeoutMs = 5000) {
        return this.find(/[\s\S]*/, n - 1, timeoutMs).then((x) => x.data);
      },
      find(re, from = 0, timeoutMs = 5000) {
        return new Promise((res, rej) => {
          let timedOut = false;
          const timer = setTimeout(() => {
            timedOut = true;
            wake();
          }, timeoutMs);
          const check = (): void => {
            for (let i = from; i < chunks.length; i++) {
              if (re.test(chunks[i]!.toString('latin1'))) {
                clearTimeout(timer);
                return res({ index: i, data: chunks[i]! });
              }
            }
            if (error || timedOut) {
              clearTimeout(timer);
              return rej(error ?? new Error(`no chunk matching ${re} after ${timeoutMs} ms (${chunks.length} chunks)`));
            }
            waiters.push(check);
          };
          check();
        });
      },
    };
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!head) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const headers = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
        }
        head = { statusLine: lines[0]!, headers };
        buf = buf.subarray(end + 4);
        resolve(stream);
      }
      // Chunks: <hex size>\r\n<data>\r\n
      for (;;) {
        const eol = buf.indexOf('\r\n');
        if (eol < 0) break;
        const size = parseInt(buf.subarray(0, eol).toString('latin1').split(';')[0]!, 16);
        if (Number.isNaN(size)) {
          error = new Error(`bad chunk size line '${buf.subarray(0, eol).toString('latin1')}'`);
          break;
        }
        if (buf.length < eol + 2 + size + 2) break;
        const data = buf.subarray(eol + 2, eol + 2 + size);
        if (buf.subarray(eol + 2 + size, eol + 4 + size).toString('latin1') !== '\r\n') {
          error = new Error('chunk data not followed by CRLF');
          break;
        }
        buf = buf.subarray(eol + 4 + size);
        if (size === 0) break;
        chunks.push(Buffer.from(data));
      }
      wake();
    });
    socket.on('error', (e) => {
      error = e;
      if (!head) reject(e);
      wake();
    });
  });
}

/** One chunk = one record: `<n>\n` then exactly n bytes. Returns the record's JSON text. */
function oneRecord(t: { is: (a: unknown, b: unknown, m?: string) => void; regex: (s: string, r: RegExp, m?: string) => void }, chunk: Buffer): string {
  const nl = chunk.indexOf(0x0a);
  const header = chunk.subarray(0, nl).toString('latin1');
  t.regex(header, /^[1-9][0-9]*$/, 'a decimal byte count');
  const payload = chunk.subarray(nl + 1);
  t.is(payload.length, Number(header), `the chunk holds exactly one record of ${header} bytes`);
  return payload.toString('utf8');
}

test('RecordIO at the socket: one record per chunk, the heartbeat byte for byte, non-ASCII escaped', async (t) => {
  const c = await startCluster(t);
  const s = await rawSubscribe(c.masterPort, JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: USER, name: 'raw-socket' } } }));
  t.teardown(() => s.socket.destroy());
  t.is(s.statusLine, 'HTTP/1.1 200 OK');
  t.is(s.headers.get('transfer-encoding'), 'chunked');
  t.is(s.headers.get('content-length'), undefined);
  t.is(s.headers.get('content-type'), 'application/json');
  const streamId = s.headers.get('mesos-stream-id')!;
  t.truthy(streamId);

  const subscribed = JSON.parse(oneRecord(t, await s.chunk(1))) as Json;
  t.is(subscribed.type, 'SUBSCRIBED');
  const frameworkId: string = subscribed.subscribed.framework_id.value;
  t.is((await s.chunk(2)).toString('latin1'), '20\n{"type":"HEARTBEAT"}');

  // A task whose name and id are not ASCII; its updates carry the id.
  const offersAt = await s.find(/"type":"OFFERS"/, 2);
  const offers = JSON.parse(oneRecord(t, offersAt.data)) as Json;
  const offer = offers.offers.offers[0];
  const id = 'tâche-日本-🚀';
  const launch = await request(c.url('/api/v1/scheduler'), {
    headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': streamId },
    body: {
      framework_id: { value: frameworkId },
      type: 'ACCEPT',
      accept: {
        offer_ids: [offer.id],
        operations: [{ type: 'LAUNCH', launch: { task_infos: [{ ...commandTask(id, 'true'), name: `Nom ${id}`, agent_id: offer.agent_id }] } }],
      },
    },
  });
  t.is(launch.status, 202);
  const update = await s.find(/"type":"UPDATE"/, offersAt.index + 1);
  const text = oneRecord(t, update.data);
  t.true(/^[\x00-\x7f]*$/.test(text), 'the record is pure ASCII');
  t.true(text.includes('"value":"t\\u00e2che-\\u65e5\\u672c-\\ud83d\\ude80"'), text);
  t.is(JSON.parse(text).update.status.task_id.value, id);

  // The task's name, as the operator endpoint shows it (plain JSON, UTF-8).
  const tasks = await c.getJson('/master/tasks');
  t.is(tasks.tasks[0].name, `Nom ${id}`);

  // Every chunk so far was one whole record.
  for (const chunk of s.chunks) oneRecord(t, chunk);
  t.true(s.chunks.length >= 4);
});
