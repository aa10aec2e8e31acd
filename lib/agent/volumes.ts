/**
 * Dynamic reservations and persistent volumes on the agent (mesos-agent-features §4.3–4.4,
 * §5.3): the master's CHECKPOINT_RESOURCES is written atomically to
 * `meta/resources/resources.info`, volume directories are made under
 * `volumes/roles/<role>/<id>` and deleted (with their data) when a volume is destroyed, the
 * agent's total is the flag resources with the checkpointed set applied, and a task's volumes
 * appear in its sandbox at their container paths.
 *
 * A volume appears as a symlink `<sandbox>/<container_path>` → the volume directory (Mesos
 * 0.23 and the `filesystem/posix` isolator): it works with every isolator here, inside a
 * private mount namespace too (the sandbox and the work dir are the host's paths), and the
 * link goes with the sandbox while the data stays. Unlike 0.23, nested relative container
 * paths are allowed (the parents are made); absolute ones and `..` are refused.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { CorralError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { type Resource, Resources, validateResource } from '../common/resources/index.ts';
import { writeJsonAtomic } from './checkpoint.ts';
import type { AgentPaths } from './paths.ts';

/** Dynamic reservations and persistent volumes: what the agent checkpoints. */
export function checkpointedOf(res: Resources): Resources {
  return res.filter((r) => r.reservation !== undefined || r.disk?.persistence !== undefined);
}

/** An entry with its persistence/volume removed and its dynamic reservation undone. */
function plainOf(r: Resource): Resource {
  const { disk, reservation, ...rest } = r;
  const out: Resource = disk?.source !== undefined ? { ...rest, disk: { source: disk.source } } : rest;
  return reservation !== undefined ? { ...out, role: '*' } : out;
}

/**
 * The agent's total: the flag resources with the checkpointed set in place of what it was made
 * of. Throws when the checkpoint does not fit the flags (the agent then refuses to start).
 */
export function applyCheckpointed(flags: Resources, checkpointed: Resources): Resources {
  let plain = Resources.EMPTY;
  for (const r of checkpointed) plain = plain.plus(plainOf(r));
  if (!flags.contains(plain)) {
    throw new CorralError('INCOMPATIBLE_CHECKPOINTED_RESOURCES', `the checkpointed resources ${checkpointed.toString()} do not fit the agent's resources ${flags.toString()}`);
  }
  return flags.minus(plain).plus(checkpointed);
}

export async function readCheckpointedResources(paths: AgentPaths): Promise<Resources> {
  let text: string;
  try {
    text = await readFile(paths.resourcesFile(), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return Resources.EMPTY;
    throw e;
  }
  const list = JSON.parse(text) as unknown;
  if (!Array.isArray(list)) throw new CorralError('CHECKPOINT', `${paths.resourcesFile()} does not hold a list of resources`);
  return Resources.of(list.map((r, i) => validateResource(r, `resources.info[${i}]`)));
}

function volumeKey(r: Resource): string {
  return `${r.role}\0${r.disk!.persistence!.id}`;
}

/**
 * Apply a CHECKPOINT_RESOURCES: write the file, make the new volumes' directories, delete the
 * directories (and data) of volumes no longer in the set.
 */
export async function checkpointResources(paths: AgentPaths, previous: Resources, next: Resources, log: Logger): Promise<void> {
  await mkdir(dirname(paths.resourcesFile()), { recursive: true });
  await writeJsonAtomic(paths.resourcesFile(), next.toArray());
  const keep = new Set<string>();
  for (const v of next.persistentVolumes()) {
    keep.add(volumeKey(v));
    await mkdir(paths.volumeDir(v.role, v.disk!.persistence!.id), { recursive: true });
  }
  for (const v of previous.persistentVolumes()) {
    if (keep.has(volumeKey(v))) continue;
    const dir = paths.volumeDir(v.role, v.disk!.persistence!.id);
    await rm(dir, { recursive: true, force: true });
    log.info({ role: v.role, persistenceId: v.disk!.persistence!.id, dir }, 'persistent volume destroyed; its data is deleted');
  }
}

/** Where a volume appears in a sandbox; refuses paths that would leave it. */
export function volumeTarget(sandbox: string, containerPath: string): string {
  const rel = normalize(containerPath);
  if (isAbsolute(containerPath) || rel === '.' || rel === '..' || rel.startsWith(`..${sep}`)) {
    throw new CorralError('INVALID_VOLUME', `container path '${containerPath}' must be relative and inside the sandbox`);
  }
  return join(sandbox, rel);
}

/**
 * Link every persistent volume in `resources` into the sandbox. Synchronous calls: three tiny
 * syscalls cost far less than three trips through libuv's thread pool (bench/volumes).
 */
export async function linkVolumes(paths: AgentPaths, sandbox: string, resources: Resources): Promise<void> {
  for (const v of resources.persistentVolumes()) {
    const source = paths.volumeDir(v.role, v.disk!.persistence!.id);
    const target = volumeTarget(sandbox, v.disk!.volume!.containerPath);
    mkdirSync(source, { recursive: true });
    const parent = dirname(target);
    if (parent !== sandbox) mkdirSync(parent, { recursive: true });
    try {
      symlinkSync(source, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}
