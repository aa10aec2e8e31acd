// Reading an agent's own endpoints from the page: the agent is another origin (its own port),
// and the master never talks to agents' ports, so the page loads the agent's JSON endpoints as
// JSONP (`?jsonp=callback`), as Mesos's web UI does: /state, /monitor/statistics, /files/browse
// and /files/read. Downloads are plain links to /files/download.

let seq = 0;

/** `//ip:port` of an agent (from its pid `slave(1)@ip:port`). */
export function agentBase(agent) {
  const at = agent.pid.lastIndexOf('@');
  return `${location.protocol}//${agent.pid.slice(at + 1)}`;
}

/** GET `path` (with `params`) from the agent as JSONP; rejects on a load error or after `timeoutMs`. */
export function agentJson(agent, path, params = {}, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const name = `__corral_jsonp_${++seq}`;
    const script = document.createElement('script');
    const done = () => {
      clearTimeout(timer);
      delete window[name];
      script.remove();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${path}: no answer from the agent`));
    }, timeoutMs);
    window[name] = (data) => {
      done();
      resolve(data);
    };
    script.onerror = () => {
      done();
      reject(new Error(`${path}: the agent could not be reached (or refused: 4xx)`));
    };
    const q = new URLSearchParams({ ...params, jsonp: name });
    script.src = `${agentBase(agent)}${path}?${q}`;
    document.head.append(script);
  });
}

export function downloadUrl(agent, path) {
  return `${agentBase(agent)}/files/download?${new URLSearchParams({ path })}`;
}
