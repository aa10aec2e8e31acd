// The pages. Each is { mount(el, params), update() }: mount builds it once for the route,
// update redraws what the model changes (the sandbox browser and the log tail keep their own
// state and are not redrawn).
import { store, scalar } from './store.js';
import { agentJson, downloadUrl } from './agent_client.js';
import { lineChart } from './chart.js';

const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const fmt = (n, d = 1) => (Number.isInteger(n) ? String(n) : n.toFixed(d));
const mb = (n) => (n >= 1024 ? `${fmt(n / 1024)} GB` : `${fmt(n)} MB`);
const bytes = (n) =>
  n >= 2 ** 30 ? `${fmt(n / 2 ** 30)} GiB` : n >= 2 ** 20 ? `${fmt(n / 2 ** 20)} MiB` : n >= 1024 ? `${fmt(n / 1024)} KiB` : `${Math.round(n)} B`;
const when = (secs) => (secs ? new Date(secs * 1000).toLocaleString() : '–');
const nsWhen = (t) => (t?.nanoseconds ? new Date(t.nanoseconds / 1e6).toLocaleString() : '–');
const duration = (secs) => {
  const s = Math.floor(secs);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
};
const LIVE = new Set(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING']);
const FAILED = new Set(['TASK_FAILED', 'TASK_LOST', 'TASK_ERROR', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_DROPPED']);
const STATES = [
  'TASK_STAGING',
  'TASK_STARTING',
  'TASK_RUNNING',
  'TASK_KILLING',
  'TASK_FINISHED',
  'TASK_KILLED',
  'TASK_FAILED',
  'TASK_LOST',
  'TASK_ERROR',
  'TASK_GONE',
  'TASK_DROPPED',
];

const taskHref = (t) => `#/tasks/${encodeURIComponent(t.framework_id.value)}/${encodeURIComponent(t.task_id.value)}`;
const agentHref = (id) => `#/agents/${encodeURIComponent(id)}`;
const frameworkHref = (id) => `#/frameworks/${encodeURIComponent(id)}`;
const lastTime = (t) => t.statuses?.at(-1)?.timestamp ?? 0;
const stateCell = (s) => `<span class="state ${esc(s)}">${esc(s)}</span>`;
const agentName = (id) => store.agents.get(id)?.agent_info.hostname ?? id;
const frameworkName = (id) => store.frameworks.get(id)?.framework_info.name ?? id;

function bar(total, used, offered) {
  const pct = (v) => (total > 0 ? Math.min(100, (v / total) * 100) : 0);
  return `<div class="bar" title="used ${fmt(used)}, offered ${fmt(offered)} of ${fmt(total)}"><span class="used" style="width:${pct(used)}%"></span><span class="offered" style="width:${pct(offered)}%"></span></div>`;
}

function tasksTable(tasks, { showFramework = true, showAgent = true } = {}) {
  if (tasks.length === 0) return '<p class="muted">No tasks.</p>';
  return `<table class="tasks"><thead><tr><th>Task</th><th>Name</th><th>State</th>${showFramework ? '<th>Framework</th>' : ''}${showAgent ? '<th>Agent</th>' : ''}<th>cpus</th><th>mem</th><th>Last change</th></tr></thead><tbody>
${tasks
  .map(
    (t) =>
      `<tr data-task="${esc(t.task_id.value)}"><td><a href="${taskHref(t)}">${esc(t.task_id.value)}</a></td><td>${esc(t.name)}</td><td>${stateCell(t.state)}</td>${
        showFramework ? `<td><a href="${frameworkHref(t.framework_id.value)}">${esc(frameworkName(t.framework_id.value))}</a></td>` : ''
      }${showAgent ? `<td><a href="${agentHref(t.agent_id.value)}">${esc(agentName(t.agent_id.value))}</a></td>` : ''}<td class="num">${fmt(scalar(t.resources, 'cpus'))}</td><td class="num">${mb(
        scalar(t.resources, 'mem'),
      )}</td><td>${when(lastTime(t))}</td></tr>`,
  )
  .join('')}</tbody></table>`;
}

function pager(total, page, size, hrefOf) {
  const pages = Math.max(1, Math.ceil(total / size));
  return `<p class="pager">${total} tasks · page ${page + 1} of ${pages} ${page > 0 ? `<a href="${hrefOf(page - 1)}" data-page="prev">‹ previous</a>` : ''} ${
    page + 1 < pages ? `<a href="${hrefOf(page + 1)}" data-page="next">next ›</a>` : ''
  }</p>`;
}

/** Cluster totals: used from the live tasks (the events), offered from the last refresh. */
function totals() {
  const out = {};
  for (const r of ['cpus', 'mem', 'disk', 'gpus']) out[r] = { total: 0, used: 0, offered: 0 };
  for (const a of store.agents.values()) {
    for (const r of Object.keys(out)) {
      out[r].total += scalar(a.total_resources, r);
      out[r].offered += scalar(a.offered_resources, r);
    }
  }
  for (const t of store.tasks.values()) if (LIVE.has(t.state)) for (const r of Object.keys(out)) out[r].used += scalar(t.resources, r);
  return out;
}

// ---------------------------------------------------------------------------------------------

export const overview = {
  mount(el) {
    this.el = el;
    this.update();
  },
  update() {
    const byState = {};
    let failures = [];
    for (const t of store.tasks.values()) {
      byState[t.state] = (byState[t.state] ?? 0) + 1;
      if (FAILED.has(t.state)) failures.push(t);
    }
    failures = failures.sort((a, b) => lastTime(b) - lastTime(a)).slice(0, 10);
    const m = store.master;
    const tot = totals();
    const agents = [...store.agents.values()];
    const fws = [...store.frameworks.values()];
    this.el.innerHTML = `<h1>Cluster</h1>
<div class="cards">
  <div class="card"><div class="value" id="agents-count">${agents.length}</div><div class="label">agents (${agents.filter((a) => a.active).length} active)</div></div>
  <div class="card"><div class="value">${fws.filter((f) => f.active).length}</div><div class="label">active frameworks (${fws.filter((f) => f.completed).length} completed)</div></div>
  <div class="card"><div class="value">${esc(m ? `${m.master_info.hostname}:${m.master_info.port}` : '–')}</div><div class="label">leading master</div></div>
  <div class="card"><div class="value">${esc(store.version?.version ?? '–')}</div><div class="label">version</div></div>
  <div class="card"><div class="value">${m ? duration(Date.now() / 1000 - m.start_time) : '–'}</div><div class="label">master uptime${m?.elected_time ? ` · elected ${when(m.elected_time)}` : ''}</div></div>
</div>
<h2>Resources</h2>
<table><thead><tr><th>Resource</th><th class="num">Total</th><th class="num">Used</th><th class="num">Offered</th><th class="num">Idle</th><th></th></tr></thead><tbody>
${Object.entries(tot)
  .map(([r, v]) => {
    const f = r === 'mem' || r === 'disk' ? mb : (x) => fmt(x);
    return `<tr><td>${r}</td><td class="num">${f(v.total)}</td><td class="num">${f(v.used)}</td><td class="num">${f(v.offered)}</td><td class="num">${f(Math.max(0, v.total - v.used - v.offered))}</td><td>${bar(v.total, v.used, v.offered)}</td></tr>`;
  })
  .join('')}</tbody></table>
<h2>Tasks</h2>
<div class="cards">${
      STATES.filter((s) => byState[s])
        .map(
          (s) =>
            `<a class="card" href="#/tasks?state=${s}"><div class="value" data-state="${s}">${byState[s]}</div><div class="label">${s.slice(5).toLowerCase()}</div></a>`,
        )
        .join('') || '<p class="muted">No tasks yet.</p>'
    }</div>
<h2>Agents</h2>
${agentsTable(agents)}
<h2>Recent task failures</h2>
${failures.length ? tasksTable(failures) : '<p class="muted">None.</p>'}`;
  },
};

function agentsTable(agents) {
  if (agents.length === 0) return '<p class="muted">No agents.</p>';
  return `<table class="agents"><thead><tr><th>Agent</th><th>Host</th><th>State</th><th class="num">cpus used / total</th><th class="num">mem used / total</th><th>Registered</th></tr></thead><tbody>
${agents
  .map((a) => {
    const id = a.agent_info.id.value;
    return `<tr><td><a href="${agentHref(id)}">${esc(id)}</a></td><td>${esc(a.agent_info.hostname)}</td><td>${a.deactivated ? 'Deactivated' : 'Active'}</td><td class="num">${fmt(
      scalar(a.allocated_resources, 'cpus'),
    )} / ${fmt(scalar(a.total_resources, 'cpus'))}</td><td class="num">${mb(scalar(a.allocated_resources, 'mem'))} / ${mb(scalar(a.total_resources, 'mem'))}</td><td>${nsWhen(a.registered_time)}</td></tr>`;
  })
  .join('')}</tbody></table>`;
}

export const agents = {
  mount(el) {
    this.el = el;
    this.update();
  },
  update() {
    this.el.innerHTML = `<h1>Agents</h1>${agentsTable([...store.agents.values()])}`;
  },
};

function frameworksTable(list) {
  if (list.length === 0) return '<p class="muted">None.</p>';
  const counts = new Map();
  for (const t of store.tasks.values()) if (LIVE.has(t.state)) counts.set(t.framework_id.value, (counts.get(t.framework_id.value) ?? 0) + 1);
  return `<table><thead><tr><th>Framework</th><th>Name</th><th>Role</th><th>User</th><th>Principal</th><th>Active</th><th class="num">Live tasks</th><th class="num">cpus</th><th class="num">mem</th><th>Registered</th></tr></thead><tbody>
${list
  .map((f) => {
    const i = f.framework_info;
    return `<tr><td><a href="${frameworkHref(i.id.value)}">${esc(i.id.value)}</a></td><td>${esc(i.name)}</td><td>${esc(i.roles?.join(', ') ?? i.role ?? '*')}</td><td>${esc(i.user)}</td><td>${esc(
      i.principal ?? '',
    )}</td><td>${f.active ? 'yes' : 'no'}</td><td class="num">${counts.get(i.id.value) ?? 0}</td><td class="num">${fmt(scalar(f.allocated_resources, 'cpus'))}</td><td class="num">${mb(
      scalar(f.allocated_resources, 'mem'),
    )}</td><td>${nsWhen(f.registered_time)}</td></tr>`;
  })
  .join('')}</tbody></table>`;
}

export const frameworks = {
  mount(el) {
    this.el = el;
    this.update();
  },
  update() {
    const all = [...store.frameworks.values()];
    this.el.innerHTML = `<h1>Frameworks</h1>${frameworksTable(all.filter((f) => !f.completed))}<h2>Completed frameworks</h2>${frameworksTable(all.filter((f) => f.completed))}`;
  },
};

export const framework = {
  mount(el, { id, query }) {
    this.el = el;
    this.id = id;
    this.page = Number(query.get('page') ?? 0);
    this.update();
  },
  update() {
    const f = store.frameworks.get(this.id);
    if (!f) {
      this.el.innerHTML = `<h1>Framework ${esc(this.id)}</h1><p class="muted">Not known to the master (yet).</p>`;
      return;
    }
    const i = f.framework_info;
    const tasks = [...store.tasks.values()].filter((t) => t.framework_id.value === this.id).sort((a, b) => lastTime(b) - lastTime(a));
    const size = 50;
    const history = store.frameworkHistory.get(this.id) ?? [];
    this.el.innerHTML = `<h1>Framework ${esc(i.name)} <span class="muted">${esc(i.id.value)}</span></h1>
<table><tbody>
<tr><th>Role(s)</th><td>${esc(i.roles?.join(', ') ?? i.role ?? '*')}</td><th>User</th><td>${esc(i.user)}</td></tr>
<tr><th>Principal</th><td>${esc(i.principal ?? '–')}</td><th>Host</th><td>${esc(i.hostname ?? '–')}</td></tr>
<tr><th>Active</th><td>${f.active ? 'yes' : 'no'}${f.completed ? ' (completed)' : ''}</td><th>Registered</th><td>${nsWhen(f.registered_time)}</td></tr>
<tr><th>Allocated</th><td>${fmt(scalar(f.allocated_resources, 'cpus'))} cpus, ${mb(scalar(f.allocated_resources, 'mem'))}</td><th>Offered</th><td>${fmt(scalar(f.offered_resources, 'cpus'))} cpus, ${mb(
      scalar(f.offered_resources, 'mem'),
    )}</td></tr>
</tbody></table>
<h2>Resources over time</h2>
<div class="grid2">${lineChart(
      history.map((h) => h.cpus),
      { label: 'cpus allocated', format: (v) => fmt(v, 2) },
    )}${lineChart(
      history.map((h) => h.mem),
      { label: 'memory allocated', format: mb },
    )}</div>
<h2>Tasks</h2>
${pager(tasks.length, this.page, size, (p) => `${frameworkHref(this.id)}?page=${p}`)}
${tasksTable(tasks.slice(this.page * size, (this.page + 1) * size), { showFramework: false })}
<h2>Outstanding offers</h2>
${offersTable(f.offers ?? [])}`;
  },
};

function offersTable(offers) {
  if (offers.length === 0) return '<p class="muted">None.</p>';
  return `<table><thead><tr><th>Offer</th><th>Framework</th><th>Agent</th><th class="num">cpus</th><th class="num">mem</th><th class="num">disk</th></tr></thead><tbody>
${offers
  .map(
    (o) =>
      `<tr><td>${esc(o.id.value)}</td><td><a href="${frameworkHref(o.framework_id.value)}">${esc(frameworkName(o.framework_id.value))}</a></td><td><a href="${agentHref(o.agent_id.value)}">${esc(
        o.hostname,
      )}</a></td><td class="num">${fmt(scalar(o.resources, 'cpus'))}</td><td class="num">${mb(scalar(o.resources, 'mem'))}</td><td class="num">${mb(scalar(o.resources, 'disk'))}</td></tr>`,
  )
  .join('')}</tbody></table>`;
}

export const offers = {
  mount(el) {
    this.el = el;
    this.update();
  },
  update() {
    this.el.innerHTML = `<h1>Offers outstanding</h1>${offersTable([...store.frameworks.values()].flatMap((f) => f.offers ?? []))}`;
  },
};

function reservationsOf(a) {
  return (a.total_resources ?? []).filter((r) => (r.role && r.role !== '*') || r.reservations?.length || r.disk?.persistence);
}

function reservationsTable(rows) {
  if (rows.length === 0) return '<p class="muted">No reservations or volumes.</p>';
  return `<table><thead><tr><th>Agent</th><th>Resource</th><th>Role</th><th>Reserved by</th><th>Volume</th><th class="num">Amount</th></tr></thead><tbody>
${rows
  .map(
    ({ agent, r }) =>
      `<tr><td><a href="${agentHref(agent.agent_info.id.value)}">${esc(agent.agent_info.hostname)}</a></td><td>${esc(r.name)}</td><td>${esc(r.role ?? r.reservations?.at(-1)?.role ?? '')}</td><td>${esc(
        r.reservation?.principal ?? r.reservations?.at(-1)?.principal ?? '',
      )}</td><td>${r.disk?.persistence ? `${esc(r.disk.persistence.id)} → ${esc(r.disk.volume?.container_path ?? '')}` : ''}</td><td class="num">${r.scalar ? fmt(r.scalar.value) : esc(JSON.stringify(r.ranges ?? r.set ?? ''))}</td></tr>`,
  )
  .join('')}</tbody></table>`;
}

export const roles = {
  mount(el) {
    this.el = el;
    this.update();
  },
  update() {
    const rows = [...store.agents.values()].flatMap((agent) => reservationsOf(agent).map((r) => ({ agent, r })));
    this.el.innerHTML = `<h1>Roles</h1>
${
  store.roles.length
    ? `<table><thead><tr><th>Role</th><th class="num">Weight</th><th>Frameworks</th><th class="num">cpus</th><th class="num">mem</th></tr></thead><tbody>${store.roles
        .map(
          (r) =>
            `<tr><td>${esc(r.name)}</td><td class="num">${fmt(r.weight, 2)}</td><td>${r.frameworks.map((f) => `<a href="${frameworkHref(f.value)}">${esc(frameworkName(f.value))}</a>`).join(', ')}</td><td class="num">${fmt(
              scalar(r.resources, 'cpus'),
            )}</td><td class="num">${mb(scalar(r.resources, 'mem'))}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No roles.</p>'
}
<h2>Weights</h2>
${store.weights.length ? `<table><thead><tr><th>Role</th><th class="num">Weight</th></tr></thead><tbody>${store.weights.map((w) => `<tr><td>${esc(w.role)}</td><td class="num">${fmt(w.weight, 2)}</td></tr>`).join('')}</tbody></table>` : '<p class="muted">Every role weighs 1.</p>'}
<h2>Reservations and persistent volumes</h2>
${reservationsTable(rows)}`;
  },
};

export const maintenance = {
  mount(el) {
    el.innerHTML = `<h1>Maintenance and quota</h1><p class="muted">This cluster has no maintenance schedule and no quota: Corral does not implement them (GET_MAINTENANCE_SCHEDULE and GET_QUOTA are answered 501 Not Implemented).</p>`;
  },
  update() {},
};

// ---------------------------------------------------------------------------------------------
// Tasks: search, filters, paging (fast with 100,000 tasks: one pass over the map, one page drawn)

export const tasks = {
  mount(el, { query }) {
    this.el = el;
    this.q = query.get('q') ?? '';
    this.state = query.get('state') ?? '';
    this.framework = query.get('framework') ?? '';
    this.agent = query.get('agent') ?? '';
    this.page = Number(query.get('page') ?? 0);
    el.innerHTML = `<h1>Tasks</h1>
<div class="filters">
  <input id="task-search" type="search" placeholder="Search id or name" value="${esc(this.q)}" />
  <select id="task-state"><option value="">All states</option>${STATES.map((s) => `<option ${s === this.state ? 'selected' : ''}>${s}</option>`).join('')}</select>
  <select id="task-framework"></select>
  <select id="task-agent"></select>
</div>
<div id="task-list"></div>`;
    const set = (k) => (e) => {
      this[k] = e.target.value;
      this.page = 0;
      this.writeHash();
      this.update();
    };
    el.querySelector('#task-search').addEventListener('input', set('q'));
    el.querySelector('#task-state').addEventListener('change', set('state'));
    el.querySelector('#task-framework').addEventListener('change', set('framework'));
    el.querySelector('#task-agent').addEventListener('change', set('agent'));
    this.update();
  },
  writeHash() {
    const q = new URLSearchParams();
    for (const k of ['q', 'state', 'framework', 'agent']) if (this[k]) q.set(k, this[k]);
    if (this.page) q.set('page', String(this.page));
    history.replaceState(null, '', `#/tasks${q.size ? `?${q}` : ''}`);
  },
  options(sel, current, entries, all) {
    const html = `<option value="">${all}</option>${entries.map(([v, label]) => `<option value="${esc(v)}" ${v === current ? 'selected' : ''}>${esc(label)}</option>`).join('')}`;
    if (sel.dataset.html !== html) {
      sel.innerHTML = html;
      sel.dataset.html = html;
    }
  },
  update() {
    const started = performance.now();
    this.options(
      this.el.querySelector('#task-framework'),
      this.framework,
      [...store.frameworks.values()].map((f) => [f.framework_info.id.value, f.framework_info.name]),
      'All frameworks',
    );
    this.options(
      this.el.querySelector('#task-agent'),
      this.agent,
      [...store.agents.values()].map((a) => [a.agent_info.id.value, a.agent_info.hostname]),
      'All agents',
    );
    const q = this.q.toLowerCase();
    const matched = [];
    for (const t of store.tasks.values()) {
      if (this.state && t.state !== this.state) continue;
      if (this.framework && t.framework_id.value !== this.framework) continue;
      if (this.agent && t.agent_id.value !== this.agent) continue;
      if (q && !t.task_id.value.toLowerCase().includes(q) && !(t.name ?? '').toLowerCase().includes(q)) continue;
      matched.push(t);
    }
    matched.sort((a, b) => lastTime(b) - lastTime(a));
    const size = 50;
    const hrefOf = (p) => {
      const x = new URLSearchParams();
      for (const k of ['q', 'state', 'framework', 'agent']) if (this[k]) x.set(k, this[k]);
      x.set('page', String(p));
      return `#/tasks?${x}`;
    };
    this.el.querySelector('#task-list').innerHTML =
      `${pager(matched.length, this.page, size, hrefOf)}${tasksTable(matched.slice(this.page * size, (this.page + 1) * size))}`;
    this.el.dataset.renderMs = String(performance.now() - started);
  },
};

// ---------------------------------------------------------------------------------------------
// One task: its history, its sandbox, a live tail of its output

/** Follows a file on an agent as it grows (like Mesos's pailer): the last 32 KiB, then every new byte. */
class Tail {
  constructor(pre, agent, path) {
    this.pre = pre;
    this.agent = agent;
    this.path = path;
    this.offset = -1;
    this.stopped = false;
    void this.loop();
  }
  stop() {
    this.stopped = true;
  }
  async loop() {
    while (!this.stopped) {
      let wait = 1000;
      try {
        if (this.offset < 0) {
          const probe = await agentJson(this.agent, '/files/read', { path: this.path, offset: -1 });
          this.offset = Math.max(0, probe.offset - 32768);
        }
        const got = await agentJson(this.agent, '/files/read', { path: this.path, offset: this.offset, length: 50000 });
        if (this.stopped) return;
        if (got.data.length > 0) {
          const follow = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
          this.pre.textContent += got.data;
          this.offset = got.offset + new TextEncoder().encode(got.data).length;
          if (follow) this.pre.scrollTop = this.pre.scrollHeight;
          if (got.data.length >= 50000) wait = 0;
        }
        this.pre.dataset.state = 'ok';
      } catch (e) {
        this.pre.dataset.state = 'error';
        this.pre.title = e.message;
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

export const task = {
  mount(el, { frameworkId, taskId }) {
    this.el = el;
    this.key = `${frameworkId}/${taskId}`;
    this.frameworkId = frameworkId;
    this.taskId = taskId;
    el.innerHTML = `<div id="task-head"></div>
<h2>Status history</h2><div id="task-history"></div>
<h2>Sandbox</h2><div id="sandbox"><p class="muted">Looking for the sandbox…</p></div>
<h2>Output <select id="tail-file"><option>stdout</option><option>stderr</option></select> <a id="tail-download" href="#" download>download</a></h2>
<pre id="tail" class="tail"></pre>`;
    this.sandbox = undefined;
    this.update();
    el.querySelector('#tail-file').addEventListener('change', (e) => this.follow(e.target.value));
  },
  unmount() {
    this.tail?.stop();
  },
  update() {
    const t = store.tasks.get(this.key);
    if (!t) {
      this.el.querySelector('#task-head').innerHTML = `<h1>Task ${esc(this.taskId)}</h1><p class="muted">Not known to the master.</p>`;
      return;
    }
    this.el.querySelector('#task-head').innerHTML = `<h1>Task ${esc(t.task_id.value)} ${stateCell(t.state)}</h1>
<table><tbody><tr><th>Name</th><td>${esc(t.name)}</td><th>Framework</th><td><a href="${frameworkHref(t.framework_id.value)}">${esc(frameworkName(t.framework_id.value))}</a></td></tr>
<tr><th>Agent</th><td><a href="${agentHref(t.agent_id.value)}">${esc(agentName(t.agent_id.value))}</a></td><th>Resources</th><td>${fmt(scalar(t.resources, 'cpus'))} cpus, ${mb(scalar(t.resources, 'mem'))}</td></tr></tbody></table>`;
    this.el.querySelector('#task-history').innerHTML =
      `<table id="statuses"><thead><tr><th>State</th><th>Time</th><th>Source</th><th>Reason</th><th>Message</th></tr></thead><tbody>${(t.statuses ?? [])
        .map(
          (s) =>
            `<tr><td>${stateCell(s.state)}</td><td>${when(s.timestamp)}</td><td>${esc(s.source ?? '')}</td><td>${esc(s.reason ?? '')}</td><td>${esc(s.message ?? '')}</td></tr>`,
        )
        .join('')}</tbody></table>`;
    if (this.sandbox === undefined) void this.findSandbox(t);
  },
  async findSandbox(t) {
    const agent = store.agents.get(t.agent_id.value);
    if (!agent || this.finding) return;
    this.finding = true;
    try {
      const state = await agentJson(agent, '/state');
      const executorId = t.executor_id?.value ?? t.task_id.value;
      for (const f of [...state.frameworks, ...state.completed_frameworks]) {
        if (f.id !== t.framework_id.value) continue;
        for (const ex of [...f.executors, ...f.completed_executors]) if (ex.id === executorId) this.sandbox = ex.directory;
      }
      this.agent = agent;
      if (this.sandbox === undefined) {
        this.el.querySelector('#sandbox').innerHTML = '<p class="muted">The agent has no sandbox for this task.</p>';
        return;
      }
      await this.browse(this.sandbox);
      this.follow('stdout');
    } catch (e) {
      this.el.querySelector('#sandbox').innerHTML = `<p class="muted">The agent could not be reached: ${esc(e.message)}</p>`;
    } finally {
      this.finding = false;
    }
  },
  async browse(dir) {
    const box = this.el.querySelector('#sandbox');
    const entries = await agentJson(this.agent, '/files/browse', { path: dir });
    const rel = dir === this.sandbox ? '/' : dir.slice(this.sandbox.length);
    box.innerHTML = `<p>${esc(rel)} ${dir !== this.sandbox ? '<a href="#" data-up="1">↑ up</a>' : ''}</p>
<table id="files"><thead><tr><th>Name</th><th>Mode</th><th class="num">Size</th><th>Modified</th><th></th></tr></thead><tbody>${entries
      .sort((a, b) => a.path.localeCompare(b.path))
      .map((f) => {
        const name = f.path.slice(f.path.lastIndexOf('/') + 1);
        const isDir = f.mode.startsWith('d');
        return `<tr><td><a href="#" data-path="${esc(f.path)}" data-dir="${isDir ? 1 : ''}">${esc(name)}${isDir ? '/' : ''}</a></td><td><code>${esc(f.mode)}</code></td><td class="num">${bytes(f.size)}</td><td>${when(
          f.mtime,
        )}</td><td>${isDir ? '' : `<a href="${esc(downloadUrl(this.agent, f.path))}" download>download</a>`}</td></tr>`;
      })
      .join('')}</tbody></table>`;
    box.querySelectorAll('a[data-path]').forEach((a) =>
      a.addEventListener('click', (e) => {
        e.preventDefault();
        if (a.dataset.dir) void this.browse(a.dataset.path);
        else this.follow(a.dataset.path);
      }),
    );
    box.querySelector('a[data-up]')?.addEventListener('click', (e) => {
      e.preventDefault();
      void this.browse(dir.slice(0, dir.lastIndexOf('/')));
    });
  },
  /** Tail `file`: a name in the sandbox (stdout, stderr) or a full path. */
  follow(file) {
    if (!this.agent || !this.sandbox) return;
    const path = file.startsWith('/') ? file : `${this.sandbox}/${file}`;
    this.tail?.stop();
    const pre = this.el.querySelector('#tail');
    pre.textContent = '';
    pre.dataset.path = path;
    this.el.querySelector('#tail-download').href = downloadUrl(this.agent, path);
    this.tail = new Tail(pre, this.agent, path);
  },
};

// ---------------------------------------------------------------------------------------------
// One agent: its resources, reservations and volumes, and its containers with live charts

export const agent = {
  mount(el, { id }) {
    this.el = el;
    this.id = id;
    this.history = new Map();
    el.innerHTML = `<div id="agent-head"></div><h2>Containers</h2><div id="containers"><p class="muted">Reading the agent's statistics…</p></div><h2>Reservations and persistent volumes</h2><div id="agent-reservations"></div>`;
    this.update();
    this.timer = setInterval(() => void this.poll(), 2000);
    void this.poll();
  },
  unmount() {
    clearInterval(this.timer);
  },
  update() {
    const a = store.agents.get(this.id);
    if (!a) {
      this.el.querySelector('#agent-head').innerHTML = `<h1>Agent ${esc(this.id)}</h1><p class="muted">Not registered with the master.</p>`;
      return;
    }
    const line = (r, f) => `${f(scalar(a.allocated_resources, r))} used, ${f(scalar(a.offered_resources, r))} offered of ${f(scalar(a.total_resources, r))}`;
    const tasks = [...store.tasks.values()].filter((t) => t.agent_id.value === this.id && LIVE.has(t.state));
    this.el.querySelector('#agent-head').innerHTML = `<h1>Agent ${esc(a.agent_info.hostname)} <span class="muted">${esc(this.id)}</span></h1>
<table><tbody><tr><th>Address</th><td>${esc(a.pid)}</td><th>State</th><td>${a.deactivated ? 'Deactivated' : 'Active'}</td></tr>
<tr><th>cpus</th><td>${line('cpus', (x) => fmt(x))}</td><th>mem</th><td>${line('mem', mb)}</td></tr>
<tr><th>disk</th><td>${line('disk', mb)}</td><th>Registered</th><td>${nsWhen(a.registered_time)}</td></tr></tbody></table>
<h2>Live tasks</h2>${tasksTable(tasks, { showAgent: false })}`;
    this.el.querySelector('#agent-reservations').innerHTML = reservationsTable(reservationsOf(a).map((r) => ({ agent: a, r })));
  },
  async poll() {
    const a = store.agents.get(this.id);
    if (!a) return;
    let stats;
    try {
      stats = await agentJson(a, '/monitor/statistics');
    } catch (e) {
      this.el.querySelector('#containers').innerHTML = `<p class="muted">The agent could not be reached: ${esc(e.message)}</p>`;
      return;
    }
    const box = this.el.querySelector('#containers');
    if (stats.length === 0) {
      box.innerHTML = '<p class="muted">No containers.</p>';
      return;
    }
    box.innerHTML = stats
      .map((s) => {
        const key = `${s.framework_id}/${s.executor_id}`;
        const h = this.history.get(key) ?? [];
        const st = s.statistics;
        const prev = h.at(-1);
        const cpuTime = (st.cpus_user_time_secs ?? 0) + (st.cpus_system_time_secs ?? 0);
        const net = (st.net_rx_bytes ?? 0) + (st.net_tx_bytes ?? 0);
        const dt = prev ? st.timestamp - prev.timestamp : 0;
        h.push({
          timestamp: st.timestamp,
          cpuTime,
          net,
          cpu: dt > 0 ? Math.max(0, (cpuTime - prev.cpuTime) / dt) : 0,
          mem: st.mem_rss_bytes ?? 0,
          netRate: dt > 0 ? Math.max(0, (net - prev.net) / dt) : 0,
        });
        if (h.length > 90) h.shift();
        this.history.set(key, h);
        return `<section class="container" data-executor="${esc(s.executor_id)}"><h3>${esc(s.executor_name || s.executor_id)} <span class="muted">${esc(frameworkName(s.framework_id))}</span></h3>
<div class="grid2">${lineChart(
          h.map((x) => x.cpu),
          { label: `cpu (limit ${fmt(st.cpus_limit ?? 0, 2)})`, format: (v) => fmt(v, 3) },
        )}${lineChart(
          h.map((x) => x.mem),
          { label: `memory (limit ${bytes(st.mem_limit_bytes ?? 0)})`, format: bytes },
        )}${lineChart(
          h.map((x) => x.netRate),
          { label: 'network', format: (v) => `${bytes(v)}/s` },
        )}</div></section>`;
      })
      .join('');
  },
};
