/**
 * A custom executor for end-to-end tests, as the text of an ES module to write to a file and run
 * with node: it knows only what the agent put in its environment (MESOS_AGENT_ENDPOINT, the ids,
 * and the LIBPROCESS_SSL_* settings when the cluster runs TLS), subscribes over the v1 executor
 * API, and answers every LAUNCH with TASK_RUNNING and, 100 ms later, TASK_FINISHED (message 'over
 * TLS' or 'in plain'). It sends no credentials.
 */
/**
 * The text of `readEvents(res, onEvent)` for the executor scripts: it reads the RecordIO event
 * stream of a SUBSCRIBE response and calls `onEvent` with each event, in order.
 */
export const READ_EVENTS = `
function readEvents(res, onEvent) {
  let buf = '';
  res.setEncoding('latin1');
  res.on('data', (d) => {
    buf += d;
    for (;;) {
      const nl = buf.indexOf('\\n');
      if (nl < 0) return;
      const n = Number(buf.slice(0, nl));
      if (buf.length < nl + 1 + n) return;
      const ev = JSON.parse(buf.slice(nl + 1, nl + 1 + n));
      buf = buf.slice(nl + 1 + n);
      onEvent(ev);
    }
  });
}
`;

export const EXECUTOR = `${READ_EVENTS}
import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
const env = process.env;
const secure = env.LIBPROCESS_SSL_ENABLED === 'true';
const tls = secure ? { ca: readFileSync(env.LIBPROCESS_SSL_CA_FILE), cert: readFileSync(env.LIBPROCESS_SSL_CERT_FILE), key: readFileSync(env.LIBPROCESS_SSL_KEY_FILE) } : {};
const url = (secure ? 'https' : 'http') + '://' + env.MESOS_AGENT_ENDPOINT + '/api/v1/executor';
const ids = { framework_id: { value: env.MESOS_FRAMEWORK_ID }, executor_id: { value: env.MESOS_EXECUTOR_ID } };
function post(body, onResponse) {
  const data = JSON.stringify({ ...ids, ...body });
  const req = (secure ? https : http).request(url, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(data) }, ...tls }, onResponse);
  req.on('error', (e) => { console.error('executor:', e.message); process.exit(3); });
  req.end(data);
}
function update(task, state) {
  post({ type: 'UPDATE', update: { status: { task_id: task.task_id, state, source: 'SOURCE_EXECUTOR', uuid: randomBytes(16).toString('base64'), message: secure ? 'over TLS' : 'in plain' } } }, (res) => res.resume());
}
post({ type: 'SUBSCRIBE', subscribe: {} }, (res) => {
  readEvents(res, (ev) => {
    if (ev.type === 'LAUNCH') {
      update(ev.launch.task, 'TASK_RUNNING');
      setTimeout(() => update(ev.launch.task, 'TASK_FINISHED'), 100);
    }
    if (ev.type === 'SHUTDOWN') process.exit(0);
  });
  res.on('end', () => process.exit(0));
});
`;

/**
 * A custom executor that authenticates as a Mesos 1.x executor library does: it sends the
 * token the agent gave it (MESOS_EXECUTOR_AUTHENTICATION_TOKEN) as `Authorization: Bearer` with
 * every call, when it has one. Every LAUNCH gets TASK_RUNNING with a JSON message:
 * `{"token": <sha256 of its token, hex, or null>, "shared": <the token itself when SHARE_TOKEN=1>}`;
 * a KILL gets TASK_KILLED and the executor exits. With checkpointing (MESOS_CHECKPOINT=1) a lost
 * stream is subscribed again (every 50 ms, for at most 30 s), and after that each of its tasks
 * gets TASK_RUNNING again with the message 'resubscribed'. A call that is not accepted is
 * printed on stderr.
 */
export const TOKEN_EXECUTOR = `${READ_EVENTS}
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
const env = process.env;
const token = env.MESOS_EXECUTOR_AUTHENTICATION_TOKEN;
const url = 'http://' + env.MESOS_AGENT_ENDPOINT + '/api/v1/executor';
const ids = { framework_id: { value: env.MESOS_FRAMEWORK_ID }, executor_id: { value: env.MESOS_EXECUTOR_ID } };
const tasks = new Map();
let subscriptions = 0;
function post(body, onResponse) {
  const data = JSON.stringify({ ...ids, ...body });
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(data) };
  if (token) headers.Authorization = 'Bearer ' + token;
  const req = http.request(url, { method: 'POST', agent: false, headers }, onResponse);
  req.on('error', (e) => onResponse(undefined, e));
  req.end(data);
}
function update(taskId, state, message, then) {
  post({ type: 'UPDATE', update: { status: { task_id: { value: taskId }, state, source: 'SOURCE_EXECUTOR', uuid: randomBytes(16).toString('base64'), message } } }, (res, err) => {
    if (err || res.statusCode !== 202) console.error('executor: UPDATE', state, err ? err.message : res.statusCode);
    if (res) res.resume();
    if (then) then();
  });
}
const deadline = Date.now() + 30000;
function lost() {
  if (env.MESOS_CHECKPOINT !== '1' || Date.now() > deadline) process.exit(0);
  setTimeout(subscribe, 50);
}
function subscribe() {
  post({ type: 'SUBSCRIBE', subscribe: { unacknowledged_tasks: [], unacknowledged_updates: [] } }, (res, err) => {
    if (err || res.statusCode !== 200) {
      if (res) { console.error('executor: SUBSCRIBE', res.statusCode); res.resume(); }
      return lost();
    }
    readEvents(res, (ev) => {
      if (ev.type === 'SUBSCRIBED' && ++subscriptions > 1) for (const id of tasks.keys()) update(id, 'TASK_RUNNING', 'resubscribed');
      if (ev.type === 'LAUNCH') {
        const id = ev.launch.task.task_id.value;
        tasks.set(id, true);
        const hash = token ? createHash('sha256').update(token).digest('hex') : null;
        update(id, 'TASK_RUNNING', JSON.stringify({ token: hash, ...(env.SHARE_TOKEN === '1' ? { shared: token } : {}) }));
      }
      if (ev.type === 'KILL') update(ev.kill.task_id.value, 'TASK_KILLED', 'killed', () => setTimeout(() => process.exit(0), 100));
      if (ev.type === 'SHUTDOWN') process.exit(0);
    });
    res.on('error', () => {});
    res.on('close', lost);
  });
}
subscribe();
`;
