/**
 * Reading processes from /proc: stat fields, resident memory, process trees, and the kernel's
 * clock tick and page size (from the auxiliary vector, so no helper process is needed).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';

export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  readonly session: number;
  /** User and system CPU time in clock ticks (fields 14, 15). */
  readonly utime: number;
  readonly stime: number;
  /** The same for its waited-for children that have ended (fields 16, 17). */
  readonly cutime: number;
  readonly cstime: number;
  /** Start time in clock ticks since boot (field 22): with the pid, it names one process. */
  readonly startTime: number;
}

/** Parse the text of /proc/PID/stat; undefined if it is not one. */
export function parseProcStat(text: string): ProcStat | undefined {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; count from the last ')'.
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const f = text.slice(close + 2).split(' '); // f[0] is field 3
  const num = (field: number): number => Number(f[field - 3]);
  const stat: ProcStat = {
    pid: Number(text.slice(0, open)),
    comm: text.slice(open + 2, close),
    state: f[0] ?? '',
    ppid: num(4),
    pgrp: num(5),
    session: num(6),
    utime: num(14),
    stime: num(15),
    cutime: num(16),
    cstime: num(17),
    startTime: num(22),
  };
  return Number.isInteger(stat.pid) && Number.isFinite(stat.startTime) ? stat : undefined;
}

/** /proc/PID/stat, or undefined if there is no such process. */
export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

export async function readProcStatAsync(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

/**
 * Is `pid` still the process that started at `startTime` (clock ticks since boot)? False for a
 * dead process, a zombie, and a later process that got the same pid.
 */
export function isSameProcess(pid: number, startTime: number): boolean {
  const s = readProcStat(pid);
  return s !== undefined && s.startTime === startTime && s.state !== 'Z' && s.state !== 'X';
}

function pidsOf(names: string[]): number[] {
  const out: number[] = [];
  for (const n of names) {
    const c = n.charCodeAt(0);
    if (c >= 49 && c <= 57) out.push(Number(n));
  }
  return out;
}

/** Pids of every process (thread groups) now in /proc. */
export function listPids(): number[] {
  return pidsOf(readdirSync('/proc'));
}

/** Stats of every process now in /proc (those that end meanwhile are left out). */
export async function allProcStats(): Promise<ProcStat[]> {
  const stats = await Promise.all(pidsOf(await readdir('/proc')).map(readProcStatAsync));
  return stats.filter((s): s is ProcStat => s !== undefined);
}

/**
 * The processes below `root` (not `root` itself) plus every process in a session led by one of
 * root's children: a supervisor's whole container, including processes whose parents are gone.
 */
export function containedProcesses(stats: readonly ProcStat[], root: number): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const sessions = new Set((children.get(root) ?? []).map((s) => s.pid));
  const found = new Map<number, ProcStat>();
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const s = stack.pop()!;
    if (found.has(s.pid)) continue;
    found.set(s.pid, s);
    stack.push(...(children.get(s.pid) ?? []));
  }
  for (const s of stats) if (sessions.has(s.session) && s.pid !== root) found.set(s.pid, s);
  return [...found.values()];
}

/** Resident set of `pid` in bytes (/proc/PID/statm), or undefined if it is gone. */
export async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const pages = Number((await readFile(`/proc/${pid}/statm`, 'latin1')).split(' ')[1]);
    return Number.isFinite(pages) ? pages * pageSize() : undefined;
  } catch {
    return undefined;
  }
}

const AT_PAGESZ = 6;
const AT_CLKTCK = 17;
let auxv: Map<number, number> | undefined;

/** This process's auxiliary vector (/proc/self/auxv): native-endian word pairs. */
function auxValues(): Map<number, number> {
  if (auxv) return auxv;
  const buf = readFileSync('/proc/self/auxv');
  const wide = !['arm', 'ia32', 'mips', 'mipsel', 'ppc'].includes(process.arch);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const word = wide ? 8 : 4;
  const read = (at: number): number =>
    wide ? Number(le ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at)) : le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
  const m = new Map<number, number>();
  for (let at = 0; at + 2 * word <= buf.length; at += 2 * word) {
    const key = read(at);
    if (key === 0) break;
    m.set(key, read(at + word));
  }
  auxv = m;
  return m;
}

/** The memory page size in bytes. */
export function pageSize(): number {
  return auxValues().get(AT_PAGESZ) ?? 4096;
}

/** Clock ticks per second of the times in /proc/PID/stat (USER_HZ). */
export function clockTicks(): number {
  return auxValues().get(AT_CLKTCK) ?? 100;
}
