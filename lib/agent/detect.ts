/**
 * The agent's resources: what `--resources` gives, plus detected values for the standard
 * names it does not mention (as the Mesos agent detects them): cpus = CPU count; mem = total − 1 GB
 * (half when under 2 GB); disk = the work_dir filesystem − 5 GB (half when under 10 GB);
 * ports = [31000-32000].
 */
import { statfs } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { Resources, parseResourcesText } from '../common/resources/index.ts';
import { parseResourcesFlag } from '../proto/resources.ts';

const MB = 1024 * 1024;
const GB = 1024 * MB;

export interface HostFacts {
  readonly cpus: number;
  readonly memBytes: number;
  readonly diskBytes: number;
}

export async function hostFacts(workDir: string): Promise<HostFacts> {
  let diskBytes = 10 * GB;
  try {
    const s = await statfs(workDir);
    diskBytes = s.blocks * s.bsize;
  } catch {
    // keep the fallback
  }
  return { cpus: cpus().length || 1, memBytes: totalmem() || GB, diskBytes };
}

/** Combine the flag text with detected values for what it leaves out. */
export function agentResources(flag: string | undefined, defaultRole: string, host: HostFacts): Resources {
  const given = flag === undefined ? Resources.EMPTY : parseResourcesFlag(flag, defaultRole);
  const text = flag ?? '';
  const parts: string[] = [];
  const role = defaultRole === '*' ? '' : `(${defaultRole})`;
  if (!text.includes('cpus')) parts.push(`cpus${role}:${host.cpus}`);
  if (!text.includes('mem')) {
    const mem = host.memBytes >= 2 * GB ? host.memBytes - GB : host.memBytes / 2;
    parts.push(`mem${role}:${Math.floor(mem / MB)}`);
  }
  if (!text.includes('disk')) {
    const disk = host.diskBytes >= 10 * GB ? host.diskBytes - 5 * GB : host.diskBytes / 2;
    parts.push(`disk${role}:${Math.floor(disk / MB)}`);
  }
  if (given.named('ports').isEmpty()) parts.push(`ports${role}:[31000-32000]`);
  return given.plus(parseResourcesText(parts.join(';')));
}
