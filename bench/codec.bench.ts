/**
 * v1 scheduler codec micro-benchmark: the two hot paths of a master.
 *
 *   decode   100k ACCEPT calls, each with one LAUNCH of one task (cpus, mem, ports, a command
 *            with a URI, labels): decodeSchedulerCall on the parsed body, and JSON.parse +
 *            decodeSchedulerCall from the body text (what the HTTP handler does).
 *   encode   100k OFFERS events, each with one offer (url, cpus/mem/disk/ports, two attributes,
 *            one executor id): encodeSchedulerEvent alone, and encode + stringifyWire + RecordIO
 *            framing (one stream record, what the event stream writes).
 *
 * No Mesos peer runs here, so the reference figures are the floor any JSON codec stands on:
 * plain JSON.parse of the same body, and plain JSON.stringify of the same event JSON.
 *
 *   npm run bench -- [--quick]        (or: node --import tsx bench/codec.bench.ts [--quick])
 *
 * Takes a few seconds; run it alone, not next to other heavy work.
 */
import { resource } from '../lib/common/resources/index.ts';
import { stringifyWire } from '../lib/proto/json_text.ts';
import type { SchedulerEvent } from '../lib/proto/messages.ts';
import { encodeRecord } from '../lib/proto/recordio.ts';
import { decodeSchedulerCall, encodeSchedulerEvent } from '../lib/proto/scheduler.ts';
import { loadLine } from './common.ts';

const quick = process.argv.includes('--quick');
const N = quick ? 20_000 : 100_000;
const WARMUP = quick ? 5_000 : 20_000;

const ACCEPT_TEXT = JSON.stringify({
  framework_id: { value: '5f3c1a2e-8d3b-4b8e-9a55-0f1e2d3c4b5a-0000' },
  type: 'ACCEPT',
  accept: {
    offer_ids: [{ value: '5f3c1a2e-8d3b-4b8e-9a55-0f1e2d3c4b5a-O1234' }],
    operations: [
      {
        type: 'LAUNCH',
        launch: {
          task_infos: [
            {
              name: 'web-server-17',
              task_id: { value: 'web-server-17.8e1f' },
              agent_id: { value: '5f3c1a2e-8d3b-4b8e-9a55-0f1e2d3c4b5a-S7' },
              resources: [
                { name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 }, role: '*' },
                { name: 'mem', type: 'SCALAR', scalar: { value: 256 }, role: '*' },
                { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31005, end: 31005 }] }, role: '*' },
              ],
              command: { value: './server --port $PORT0', uris: [{ value: 'https://example.com/server.tar.gz', extract: true, cache: true }] },
              labels: { labels: [{ key: 'team', value: 'web' }] },
            },
          ],
        },
      },
    ],
    filters: { refuse_seconds: 5.0 },
  },
});
const ACCEPT_JSON: unknown = JSON.parse(ACCEPT_TEXT);

const OFFERS: SchedulerEvent = {
  type: 'OFFERS',
  offers: {
    offers: [
      {
        id: '5f3c1a2e-8d3b-4b8e-9a55-0f1e2d3c4b5a-O1234',
        frameworkId: '5f3c1a2e-8d3b-4b8e-9a55-0f1e2d3c4b5a-0000',
        agentId: '5f3c1a2e-8d3b-4b8e-9a55-0f1e2d3c4b5a-S7',
        hostname: 'agent7.example.com',
        url: { scheme: 'http', address: { hostname: 'agent7.example.com', ip: '10.0.0.17', port: 5051 }, path: '/slave(1)' },
        resources: [
          resource('cpus', 7.5),
          resource('mem', 30720),
          resource('disk', 102400),
          resource('ports', [
            [31000, 31004],
            [31006, 32000],
          ]),
        ],
        attributes: [
          { name: 'rack', type: 'TEXT', text: 'r12' },
          { name: 'level', type: 'SCALAR', scalar: 2 },
        ],
        executorIds: ['web-server-17.8e1f'],
      },
    ],
  },
};
/** The same event as plain JSON (doubles as plain numbers), for the JSON.stringify floor. */
const OFFERS_PLAIN: unknown = JSON.parse(stringifyWire(encodeSchedulerEvent(OFFERS)));

let sink = 0;

function run(label: string, fn: () => unknown): number {
  for (let i = 0; i < WARMUP; i++) sink ^= fn() === undefined ? 1 : 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) sink ^= fn() === undefined ? 1 : 0;
  const ns = Number(process.hrtime.bigint() - t0);
  const opsPerSec = (N * 1e9) / ns;
  console.log(`  ${label.padEnd(52)} ${Math.round(opsPerSec).toLocaleString('en-US').padStart(11)} ops/s  ${(ns / N / 1000).toFixed(2).padStart(6)} µs/op`);
  return opsPerSec;
}

console.log(loadLine());
console.log(`codec: ${N.toLocaleString('en-US')} operations per case (after ${WARMUP.toLocaleString('en-US')} warm-up), node ${process.version}`);
console.log(`ACCEPT body ${ACCEPT_TEXT.length} bytes; OFFERS record ${encodeRecord(stringifyWire(encodeSchedulerEvent(OFFERS))).length} bytes`);
console.log('decode ACCEPT (one LAUNCH):');
const parseFloor = run('JSON.parse only (floor)', () => JSON.parse(ACCEPT_TEXT));
run('decodeSchedulerCall (parsed body)', () => decodeSchedulerCall(ACCEPT_JSON));
const parseDecode = run('JSON.parse + decodeSchedulerCall (body text)', () => decodeSchedulerCall(JSON.parse(ACCEPT_TEXT)));
console.log('encode OFFERS (one offer):');
const stringifyFloor = run('JSON.stringify only (floor)', () => JSON.stringify(OFFERS_PLAIN));
run('encodeSchedulerEvent', () => encodeSchedulerEvent(OFFERS));
const record = run('encodeSchedulerEvent + stringifyWire + RecordIO', () => encodeRecord(stringifyWire(encodeSchedulerEvent(OFFERS))));
console.log(
  `ratios: parse+decode at ${(parseDecode / parseFloor).toFixed(2)}x the JSON.parse floor; encode+frame at ${(record / stringifyFloor).toFixed(2)}x the JSON.stringify floor`,
);
if (sink === 42) console.log('');
