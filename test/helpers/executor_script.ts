/**
 * A custom executor for end-to-end tests, as the text of an ES module to write to a file and run
 * with node: it knows only what the agent put in its environment (MESOS_AGENT_ENDPOINT, the ids,
 * and the LIBPROCESS_SSL_* settings when the cluster runs TLS), subscribes over the v1 executor
 * API, and answers every LAUNCH with TASK_RUNNING and, 100 ms later, TASK_FINISHED (message 'over
 * TLS' or 'in plain'). It sends no credentials.
 */
export const EXECUTOR = `
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
      if (ev.type === 'LAUNCH') {
        update(ev.launch.task, 'TASK_RUNNING');
        setTimeout(() => update(ev.launch.task, 'TASK_FINISHED'), 100);
      }
      if (ev.type === 'SHUTDOWN') process.exit(0);
    }
  });
  res.on('end', () => process.exit(0));
});
`;
