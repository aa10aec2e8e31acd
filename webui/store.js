// The cluster as the page knows it: built from the master's operator API (POST /api/v1, same
// origin, so the browser's HTTP authentication applies) and kept up to date by its event
// stream (SUBSCRIBE): SUBSCRIBED gives the whole state, then TASK_ADDED, TASK_UPDATED,
// AGENT_ADDED, AGENT_REMOVED and FRAMEWORK_* change it. What events do not carry (offers,
// allocations, the master's metrics) is read again every few seconds.

const listeners = new Set();

export const store = {
  connected: false,
  /** 'connecting' | 'up' | 'lost' */
  link: 'connecting',
  lostSince: 0,
  backAt: 0,
  master: undefined,
  version: undefined,
  metrics: {},
  flags: {},
  /** agent id → GetAgents.Agent */
  agents: new Map(),
  /** framework id → GetFrameworks.Framework (with `completed`) */
  frameworks: new Map(),
  /** `${frameworkId}/${taskId}` → Task (+ `completed`) */
  tasks: new Map(),
  roles: [],
  weights: [],
  /** framework id → [{t, cpus, mem}] over time */
  frameworkHistory: new Map(),
  /** How many changes the model went through (pages re-render when it moves). */
  revision: 0,
};

export function onChange(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

let pending = false;
function changed() {
  store.revision++;
  if (pending) return;
  pending = true;
  // At most one render per frame, however many events came.
  requestAnimationFrame(() => {
    pending = false;
    for (const f of listeners) f();
  });
}

/** One operator call; its response object (or null for an empty 2xx). */
export async function call(type, sub) {
  const body = sub === undefined ? { type } : { type, [type.toLowerCase()]: sub };
  const res = await fetch('/api/v1', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${type}: ${res.status} ${await res.text()}`);
  const text = await res.text();
  return text === '' ? null : JSON.parse(text)[type.toLowerCase()];
}

const taskKey = (t) => `${t.framework_id.value}/${t.task_id.value}`;

function setState(s) {
  store.agents = new Map(s.get_agents.agents.map((a) => [a.agent_info.id.value, a]));
  store.frameworks = new Map();
  for (const f of s.get_frameworks.frameworks) store.frameworks.set(f.framework_info.id.value, f);
  for (const f of s.get_frameworks.completed_frameworks) store.frameworks.set(f.framework_info.id.value, { ...f, completed: true });
  store.tasks = new Map();
  for (const t of s.get_tasks.tasks) store.tasks.set(taskKey(t), t);
  for (const t of s.get_tasks.completed_tasks) store.tasks.set(taskKey(t), { ...t, completed: true });
}

function apply(e) {
  switch (e.type) {
    case 'SUBSCRIBED':
      setState(e.subscribed.get_state);
      break;
    case 'TASK_ADDED':
      store.tasks.set(taskKey(e.task_added.task), e.task_added.task);
      break;
    case 'TASK_UPDATED': {
      const s = e.task_updated.status;
      const key = `${e.task_updated.framework_id.value}/${s.task_id.value}`;
      const t = store.tasks.get(key);
      if (t) {
        t.state = e.task_updated.state;
        t.statuses = [...(t.statuses ?? []), s];
      }
      break;
    }
    case 'AGENT_ADDED':
      store.agents.set(e.agent_added.agent.agent_info.id.value, e.agent_added.agent);
      break;
    case 'AGENT_REMOVED':
      store.agents.delete(e.agent_removed.agent_id.value);
      break;
    case 'FRAMEWORK_ADDED':
    case 'FRAMEWORK_UPDATED': {
      const f = e[e.type.toLowerCase()].framework;
      const old = store.frameworks.get(f.framework_info.id.value);
      store.frameworks.set(f.framework_info.id.value, { ...old, ...f, offers: old?.offers ?? [] });
      break;
    }
    case 'FRAMEWORK_REMOVED': {
      const id = e.framework_removed.framework_info.id.value;
      const old = store.frameworks.get(id);
      store.frameworks.set(id, {
        ...(old ?? { framework_info: e.framework_removed.framework_info }),
        active: false,
        connected: false,
        completed: true,
        offers: [],
      });
      break;
    }
    default:
      return; // HEARTBEAT
  }
  changed();
}

/** Split a byte stream into RecordIO records (`<byte count>\n<bytes>`). */
function recordio(onRecord) {
  let buf = new Uint8Array(0);
  const decoder = new TextDecoder();
  return (chunk) => {
    const next = new Uint8Array(buf.length + chunk.length);
    next.set(buf);
    next.set(chunk, buf.length);
    buf = next;
    for (;;) {
      const nl = buf.indexOf(10);
      if (nl < 0) return;
      const n = Number(decoder.decode(buf.subarray(0, nl)));
      if (buf.length < nl + 1 + n) return;
      onRecord(JSON.parse(decoder.decode(buf.subarray(nl + 1, nl + 1 + n))));
      buf = buf.subarray(nl + 1 + n);
    }
  };
}

/** The event stream, for ever: on a loss, say so, and subscribe again (1 s, then doubling up to 16 s). */
async function subscribeLoop() {
  let delay = 1000;
  for (;;) {
    const controller = new AbortController();
    // Mesos sends a heartbeat every 15 s: five missed ones mean the connection is dead.
    let watchdog;
    const feed = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => controller.abort(), 75_000);
    };
    try {
      const res = await fetch('/api/v1', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ type: 'SUBSCRIBE' }),
        signal: controller.signal,
      });
      if (!res.ok) throw new Error(`SUBSCRIBE: ${res.status}`);
      const push = recordio((e) => {
        if (e.type === 'SUBSCRIBED') up();
        apply(e);
      });
      const reader = res.body.getReader();
      feed();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        feed();
        push(value);
      }
      delay = 1000;
    } catch {
      // lost: below
    } finally {
      clearTimeout(watchdog);
    }
    lost();
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 16_000);
  }
}

function up() {
  const wasLost = store.link === 'lost';
  store.link = 'up';
  store.connected = true;
  if (wasLost) store.backAt = Date.now();
  void refresh();
}

function lost() {
  if (store.link !== 'lost') store.lostSince = Date.now();
  store.link = 'lost';
  store.connected = false;
  changed();
}

/** What the events do not carry, read again: agents' and frameworks' resources and offers, roles, the master, metrics. */
async function refresh() {
  try {
    const [agents, frameworks, master, metrics, roles, weights, version] = await Promise.all([
      call('GET_AGENTS'),
      call('GET_FRAMEWORKS'),
      call('GET_MASTER'),
      call('GET_METRICS', {}),
      call('GET_ROLES'),
      call('GET_WEIGHTS'),
      store.version ? Promise.resolve(null) : call('GET_VERSION'),
    ]);
    store.agents = new Map(agents.agents.map((a) => [a.agent_info.id.value, a]));
    for (const f of frameworks.frameworks) store.frameworks.set(f.framework_info.id.value, f);
    for (const f of frameworks.completed_frameworks) store.frameworks.set(f.framework_info.id.value, { ...f, completed: true });
    store.master = master;
    store.metrics = Object.fromEntries(metrics.metrics.map((m) => [m.name, m.value]));
    store.roles = roles.roles;
    store.weights = weights.weight_infos;
    if (version) store.version = version.version_info;
    const now = Date.now();
    for (const f of frameworks.frameworks) {
      const id = f.framework_info.id.value;
      const h = store.frameworkHistory.get(id) ?? [];
      h.push({ t: now, cpus: scalar(f.allocated_resources, 'cpus'), mem: scalar(f.allocated_resources, 'mem') });
      if (h.length > 120) h.shift();
      store.frameworkHistory.set(id, h);
    }
    changed();
  } catch {
    // The stream says when the master is gone; a failed refresh is tried again on the next tick.
  }
}

/** The sum of a scalar resource in a v1 resource list. */
export function scalar(list, name) {
  let v = 0;
  for (const r of list ?? []) if (r.name === name && r.scalar) v += r.scalar.value;
  return v;
}

export function start() {
  void subscribeLoop();
  setInterval(() => {
    if (store.link === 'up') void refresh();
  }, 5000);
}
