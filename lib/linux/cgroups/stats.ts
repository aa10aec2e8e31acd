/**
 * The text formats of cgroup control files: "key value" statistics (memory.stat, cpu.stat,
 * cpuacct.stat, memory.events, memory.oom_control), pid lists (cgroup.procs, tasks), and the
 * memory statistics read from them.
 */
import { join } from 'node:path';
import { readCgroupFile, readOptional } from './io.ts';
import type { CgroupMemoryStats } from './types.ts';

export type MutableMemoryStats = { -readonly [K in keyof CgroupMemoryStats]: CgroupMemoryStats[K] };

/**
 * Memory statistics of a cgroup directory: usage from `usageFile` (ENOENT: no such cgroup), the
 * rest from memory.stat under the names each version uses.
 */
export function readMemoryStats(dir: string, usageFile: string, names: Partial<Record<keyof CgroupMemoryStats, string>>): MutableMemoryStats {
  const out: MutableMemoryStats = {};
  out.totalBytes = Number(readCgroupFile(join(dir, usageFile)).trim());
  const stat = readOptional(join(dir, 'memory.stat'));
  if (stat !== undefined) {
    const m = parseKeyValues(stat);
    for (const [key, name] of Object.entries(names) as [keyof CgroupMemoryStats, string][]) {
      const v = m.get(name);
      if (v !== undefined) out[key] = v;
    }
  }
  return out;
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat, memory.events) as a map. */
export function parseKeyValues(text: string): Map<string, number> {
  const m = new Map<string, number>();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const sp = text.indexOf(' ', start);
    if (sp > start && sp < end) m.set(text.slice(start, sp), Number(text.slice(sp + 1, end)));
    start = end + 1;
  }
  return m;
}

export function parsePids(text: string): number[] {
  const out: number[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) out.push(Number(text.slice(start, end)));
    start = end + 1;
  }
  return out;
}

export function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  if (text.length > 0 && !text.endsWith('\n')) n++;
  return n;
}
