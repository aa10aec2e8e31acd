// Reading an agent's own endpoints from the page: through the leading master, which passes
// GET /agent/<agent id>/<path> on to the agent (lib/master/http/agent_proxy.ts). The requests
// are same-origin, so the browser's HTTP authentication with the master goes along and the
// agent sees the same principal: agents that require authentication are shown too (Mesos's UI
// reads agents by JSONP, which cannot send credentials). /state, /monitor/statistics,
// /files/browse and /files/read are read as JSON; downloads are links to /files/download.

/** `/agent/<id>`: where the master passes the agent's reads on. */
export function agentBase(agent) {
  return `/agent/${encodeURIComponent(agent.agent_info.id.value)}`;
}

/** GET `path` (with `params`) of the agent, as JSON; rejects with the agent's (or the master's) answer, or after `timeoutMs`. */
export async function agentJson(agent, path, params = {}, timeoutMs = 10_000) {
  const q = new URLSearchParams(params);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetch(`${agentBase(agent)}${path}${q.size ? `?${q}` : ''}`, { signal: controller.signal, cache: 'no-store' });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${(await res.text()).slice(0, 200)}`);
    return await res.json();
  } catch (e) {
    throw e.name === 'AbortError' ? new Error(`${path}: no answer from the agent within ${timeoutMs / 1000} s`) : e;
  } finally {
    clearTimeout(timer);
  }
}

export function downloadUrl(agent, path) {
  return `${agentBase(agent)}/files/download?${new URLSearchParams({ path })}`;
}
