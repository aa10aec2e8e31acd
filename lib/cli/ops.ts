/**
 * The operator's commands (as `mesos task list`, `nomad alloc logs -f`): read the leading
 * master's state and the agents' sandboxes over HTTP, and print tables (or JSON).
 *
 *   corral task list [--state=RUNNING] [--framework=ID|NAME] [--agent=ID|HOST]   (also `corral tasks`)
 *   corral task show TASK_ID
 *   corral task log TASK_ID [--stderr] [--follow]                               (also `corral task tail`)
 *   corral agent list                                                           (also `corral agents`)
 *   corral framework list                                                       (also `corral frameworks`)
 *   corral state
 *
 * Every command takes --master (host:port, or zk://… where the leader is looked up), --json,
 * and --principal/--secret for masters and agents run with --authenticate_http; TLS comes from
 * LIBPROCESS_SSL_* as for the other commands. A task's output is read through the agent's
 * `/files/read` endpoint, from the sandbox path in the agent's `/state`.
 */
import { readFileSync } from 'node:fs';
import { type FlagValues, flag, flagsHelp, optionalFlag, parseBool, parseFlags, str } from '../common/flags.ts';
import { ValidationError, describeError } from '../common/errors.ts';
import { type MasterLocation, type TlsConfig, loadTlsConfig, parseMasterLocation } from '../transport/index.ts';
import { Cluster, allTasks, findTask, sandboxOf } from './cluster_reader.ts';
import { executeCredential, executeFlags } from './execute.ts';

import type { Json } from './cluster_reader.ts';

export const opsFlags = {
  master: flag<MasterLocation>({
    help: 'The master: host:port, or zk://host1:2181,host2:2181/path (the leading master is looked up there)',
    default: { hostPort: '127.0.0.1:5050' },
    parse: (t: string) => parseMasterLocation(t, '--master'),
    show: (m) => ('hostPort' in m ? m.hostPort : m.zk.redacted),
  }),
  json: flag({ help: 'Print JSON instead of a table', default: false, boolean: true, parse: parseBool }),
  state: optionalFlag({
    help: 'task list: only tasks in these states (comma-separated; TASK_RUNNING or RUNNING, any case)',
    parse: (t: string) => t.split(',').map((s) => (s.trim().toUpperCase().startsWith('TASK_') ? s.trim().toUpperCase() : `TASK_${s.trim().toUpperCase()}`)),
  }),
  framework: optionalFlag({ help: 'task list: only the tasks of this framework (id or name)', parse: str }),
  agent: optionalFlag({ help: 'task list: only the tasks on this agent (id or hostname)', parse: str }),
  completed: flag({ help: 'task list: also the completed tasks', default: true, boolean: true, parse: parseBool }),
  stderr: flag({ help: "task log: the task's stderr instead of its stdout", default: false, boolean: true, parse: parseBool }),
  follow: flag({ help: 'task log: keep printing what the task writes until it ends (like tail -f)', default: false, boolean: true, parse: parseBool }),
  principal: optionalFlag({ help: 'The principal sent as HTTP Basic to masters and agents run with --authenticate_http (with --secret)', parse: str }),
  secret: { ...executeFlags.secret, help: 'The secret of --principal, or a path to a file holding it (as `corral execute --secret` takes it)' },
};

type OpsValues = FlagValues<typeof opsFlags>;

/** The commands and their subcommands (the first word after the command); `''` is a command alone. */
const SUBCOMMANDS: Record<string, Record<string, { args: string[]; help: string }>> = {
  task: {
    list: { args: [], help: 'List the tasks (table: ID, NAME, STATE, FRAMEWORK, AGENT, RESOURCES)' },
    show: { args: ['TASK_ID'], help: 'Show one task as JSON, as the master knows it, with its sandbox' },
    log: { args: ['TASK_ID'], help: "Print a task's stdout (--stderr: its stderr); --follow keeps printing until it ends" },
    tail: { args: ['TASK_ID'], help: 'The same as `task log`' },
  },
  tasks: { '': { args: [], help: 'The same as `task list`' } },
  agent: { list: { args: [], help: 'List the agents (table: ID, HOSTNAME, ADDRESS, ACTIVE, RESOURCES, USED)' } },
  agents: { '': { args: [], help: 'The same as `agent list`' } },
  framework: { list: { args: [], help: 'List the frameworks (table: ID, NAME, ROLE, ACTIVE, TASKS, USED)' } },
  frameworks: { '': { args: [], help: 'The same as `framework list`' } },
  state: { '': { args: [], help: "Print the leading master's /master/state as JSON" } },
};

/** Is `corral <command> <rest>` one of these? `corral agent` runs an agent unless a subcommand (`list`) follows. */
export function isOpsCommand(command: string, rest: readonly string[]): boolean {
  const subs = SUBCOMMANDS[command];
  if (subs === undefined) return false;
  return command !== 'agent' || (rest[0] !== undefined && rest[0] in subs);
}

/** Lines for `corral --help`. */
export function opsUsage(): string[] {
  return [
    '  task     list | show TASK_ID | log TASK_ID [--stderr] [--follow]: the tasks of a cluster',
    '  agent    list (also: corral agents)',
    '  framework list (also: corral frameworks)',
    "  state    The leading master's state as JSON",
  ];
}

function help(command: string): string {
  const subs = Object.entries(SUBCOMMANDS[command]!).map(
    ([s, d]) => `  corral ${command}${s ? ` ${s}` : ''}${d.args.map((a) => ` ${a}`).join('')}\n      ${d.help}`,
  );
  return `usage:\n${subs.join('\n')}\n\n${flagsHelp(opsFlags)}`;
}

export interface OpsIo {
  readonly out: (text: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Default: from LIBPROCESS_SSL_* in `env`. */
  readonly tls?: TlsConfig;
  readonly readFile?: (path: string) => string;
  /** How often `task log --follow` polls (default 500 ms). */
  readonly pollMs?: number;
}

const processIo: OpsIo = {
  out: (t) => void process.stdout.write(t),
  err: (l) => console.error(l),
  env: process.env,
  readFile: (p) => readFileSync(p, 'utf8'),
};

/** Run `corral <command> <argv>`; resolves with the exit code (2: bad usage, 1: failed). */
export async function runOps(command: string, argv: readonly string[], io: OpsIo = processIo): Promise<number> {
  const table = SUBCOMMANDS[command]!;
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(help(command) + '\n');
    return 0;
  }
  let values: OpsValues;
  let positional: string[];
  let sub: string;
  let tls: TlsConfig | undefined;
  try {
    tls = io.tls ?? loadTlsConfig(io.env);
    const parsed = parseFlags(opsFlags, { argv, env: io.env, ...(io.readFile ? { readFile: io.readFile } : {}) });
    values = parsed.values;
    positional = parsed.rest.map(String);
    sub = '' in table ? '' : (positional.shift() ?? '');
    const spec = table[sub];
    if (spec === undefined) throw new ValidationError('subcommand', `'${sub}' is not one of: ${Object.keys(table).join(', ')}`);
    if (positional.length !== spec.args.length)
      throw new ValidationError(sub || command, `takes ${spec.args.length ? spec.args.join(' ') : 'no argument'}, not '${positional.join(' ')}'`);
  } catch (e) {
    io.err(`corral ${command}: ${describeError(e)}`);
    return 2;
  }
  const credential = (() => {
    try {
      return executeCredential(values.principal, values.secret);
    } catch (e) {
      io.err(`corral ${command}: ${describeError(e)}`);
      return null;
    }
  })();
  if (credential === null) return 2;
  const client = new Cluster(values.master, tls, credential);
  try {
    const what = `${command}${sub ? ` ${sub}` : ''}`;
    switch (what) {
      case 'task list':
      case 'tasks':
        return printTasks(await client.state(), values, io);
      case 'task show':
        return await showTask(client, positional[0]!, io);
      case 'task log':
      case 'task tail':
        return await taskLog(client, positional[0]!, values, io);
      case 'agent list':
      case 'agents':
        return printAgents(await client.state(), values, io);
      case 'framework list':
      case 'frameworks':
        return printFrameworks(await client.state(), values, io);
      case 'state':
        io.out(JSON.stringify(await client.state(), null, 2) + '\n');
        return 0;
    }
    return 2;
  } catch (e) {
    io.err(`corral ${command}: ${describeError(e)}`);
    return 1;
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Tables

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

function resourcesText(r: Json): string {
  if (!r) return '';
  const parts: string[] = [];
  for (const k of ['cpus', 'gpus', 'mem', 'disk']) if (typeof r[k] === 'number' && r[k] > 0) parts.push(`${k}:${Math.round(r[k] * 1000) / 1000}`);
  if (typeof r.ports === 'string' && r.ports) parts.push(`ports:${r.ports}`);
  return parts.join(' ');
}

function printTasks(state: Json, v: OpsValues, io: OpsIo): number {
  const rows = allTasks(state, v.completed).filter(
    ({ task, framework, agent }) =>
      (v.state === undefined || v.state.includes(task.state)) &&
      (v.framework === undefined || framework.id === v.framework || framework.name === v.framework) &&
      (v.agent === undefined || task.slave_id === v.agent || agent?.hostname === v.agent),
  );
  if (v.json) {
    io.out(
      JSON.stringify(
        rows.map((r) => r.task),
        null,
        2,
      ) + '\n',
    );
    return 0;
  }
  io.out(
    table(
      ['ID', 'NAME', 'STATE', 'FRAMEWORK', 'AGENT', 'RESOURCES'],
      rows.map(({ task, framework, agent }) => [
        String(task.id),
        String(task.name ?? ''),
        String(task.state),
        `${framework.name} (${framework.id})`,
        agent ? `${agent.hostname} (${agent.id})` : String(task.slave_id),
        resourcesText(task.resources),
      ]),
    ),
  );
  return 0;
}

function printAgents(state: Json, v: OpsValues, io: OpsIo): number {
  const agents: Json[] = state.slaves ?? [];
  if (v.json) {
    io.out(JSON.stringify(agents, null, 2) + '\n');
    return 0;
  }
  io.out(
    table(
      ['ID', 'HOSTNAME', 'ADDRESS', 'ACTIVE', 'RESOURCES', 'USED'],
      agents.map((a) => [
        String(a.id),
        String(a.hostname),
        /@(.+)$/.exec(String(a.pid ?? ''))?.[1] ?? `${a.hostname}:${a.port}`,
        String(a.active),
        resourcesText(a.resources),
        resourcesText(a.used_resources),
      ]),
    ),
  );
  return 0;
}

function printFrameworks(state: Json, v: OpsValues, io: OpsIo): number {
  const fws: Json[] = [...(state.frameworks ?? []), ...(state.completed_frameworks ?? [])];
  if (v.json) {
    io.out(JSON.stringify(fws, null, 2) + '\n');
    return 0;
  }
  const done = new Set((state.completed_frameworks ?? []).map((f: Json) => f.id));
  io.out(
    table(
      ['ID', 'NAME', 'ROLE', 'STATE', 'TASKS', 'USED'],
      fws.map((f) => [
        String(f.id),
        String(f.name),
        String(f.role ?? (f.roles ?? []).join(',')),
        done.has(f.id) ? 'completed' : f.active ? 'active' : 'inactive',
        String((f.tasks ?? []).length),
        resourcesText(f.used_resources),
      ]),
    ),
  );
  return 0;
}

// ---------------------------------------------------------------------------------------------
// One task

async function showTask(c: Cluster, id: string, io: OpsIo): Promise<number> {
  const row = findTask(await c.state(), id);
  let sandbox: string | undefined;
  try {
    sandbox = (await sandboxOf(c, row)).directory;
  } catch {
    sandbox = undefined;
  }
  io.out(
    JSON.stringify(
      {
        ...row.task,
        framework_name: row.framework.name,
        ...(row.agent ? { agent_hostname: row.agent.hostname, agent_address: c.agentUrl(row.agent, '') } : {}),
        ...(sandbox ? { sandbox } : {}),
      },
      null,
      2,
    ) + '\n',
  );
  return 0;
}

const TERMINAL = new Set([
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_LOST',
  'TASK_ERROR',
  'TASK_DROPPED',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
  'TASK_UNKNOWN',
]);

async function taskLog(c: Cluster, id: string, v: OpsValues, io: OpsIo): Promise<number> {
  const row = findTask(await c.state(), id);
  const { directory } = await sandboxOf(c, row);
  const path = `${directory}/${v.stderr ? 'stderr' : 'stdout'}`;
  const read = (offset: number): Promise<Json> => c.agentGet(row.agent, `/files/read?path=${encodeURIComponent(path)}&offset=${offset}&length=${1024 * 1024}`);
  let offset = 0;
  const drain = async (): Promise<void> => {
    for (;;) {
      const chunk = await read(offset);
      const data = String(chunk.data ?? '');
      if (data.length === 0) return;
      io.out(data);
      offset += Buffer.byteLength(data, 'utf8');
    }
  };
  await drain();
  if (!v.follow) return 0;
  let state = row.task.state;
  // Until the task has ended and everything it wrote is printed.
  while (!TERMINAL.has(state)) {
    await new Promise((r) => setTimeout(r, io.pollMs ?? 500));
    await drain();
    try {
      state = findTask(await c.state(), id).task.state;
    } catch {
      state = 'TASK_UNKNOWN';
    }
  }
  await drain();
  return 0;
}
