/**
 * Dynamic reservations and persistent volumes on the agent (as
 * in Mesos): the master's CHECKPOINT_RESOURCES is written atomically to
 * `meta/resources/resources.info`, volume directories are made under
 * `volumes/roles/<role>/<id>` and deleted (with their data) when a volume is destroyed, the
 * agent's total is the flag resources with the checkpointed set applied, and a task's volumes
 * are handed to the containerizer as mounts (volumeMounts).
 *
 * The containerizer bind-mounts each volume at `<sandbox>/<container_path>` inside the
 * container's own mount namespace (the supervisor's --bind): the host never sees the mount, it
 * goes with the container, and the data stays in the volume directory. Where no mount namespace
 * can be made (the agent is not root) it falls back to a symlink `<sandbox>/<container_path>` →
 * the volume directory (linkVolumes; Mesos 0.23's `filesystem/posix` way), which cannot make a
 * volume read-only. Unlike 0.23, nested relative container paths are allowed (the parents are
 * made); absolute ones and `.`/`..` components are refused.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { CorralError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { type Resource, Resources, plainOf, validateResource } from '../common/resources/index.ts';
import { writeJsonAtomic } from './checkpoint.ts';
import type { AgentPaths } from './paths.ts';

/**
 * The agent's total: the flag resources with the checkpointed set in place of what it was made
 * of. Throws when the checkpoint does not fit the flags (the agent then refuses to start).
 */
export function applyCheckpointed(flags: Resources, checkpointed: Resources): Resources {
  let plain = Resources.EMPTY;
  for (const r of checkpointed) plain = plain.plus(plainOf(r));
  if (!flags.contains(plain)) {
    throw new CorralError(
      'INCOMPATIBLE_CHECKPOINTED_RESOURCES',
      `the checkpointed resources ${checkpointed.toString()} do not fit the agent's resources ${flags.toString()}`,
    );
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

/** A persistent volume for a container: `source` appears at `<sandbox>/<containerPath>`. */
export interface VolumeMount {
  /** The volume's directory on the host (absolute). */
  readonly source: string;
  /** Relative to the sandbox, without '.' or '..' components. */
  readonly containerPath: string;
  readonly readOnly: boolean;
}

/**
 * A volume's directory (and those made above it) is for the user of the task that uses it
 * (the supervisor gives it to that user), as a sandbox is: others do not read its data.
 */
const VOLUME_DIR_MODE = 0o700;

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
    await mkdir(paths.volumeDir(v.role, v.disk!.persistence!.id), { recursive: true, mode: VOLUME_DIR_MODE });
  }
  for (const v of previous.persistentVolumes()) {
    if (keep.has(volumeKey(v))) continue;
    const dir = paths.volumeDir(v.role, v.disk!.persistence!.id);
    await rm(dir, { recursive: true, force: true });
    log.info({ role: v.role, persistenceId: v.disk!.persistence!.id, dir }, 'persistent volume destroyed; its data is deleted');
  }
}

/**
 * A container path checked: relative, no `.` or `..` component, no ':' (the supervisor's
 * --bind syntax), not empty. Returns it without empty components.
 */
export function containerPathOf(containerPath: string): string {
  const parts = containerPath.split('/').filter((p) => p !== '');
  const bad = (why: string): CorralError =>
    new CorralError('INVALID_VOLUME', `container path '${containerPath}' ${why}`, { field: 'disk.volume.container_path' });
  if (isAbsolute(containerPath)) throw bad('must be relative to the sandbox');
  if (parts.length === 0) throw bad('is empty');
  if (parts.some((p) => p === '.' || p === '..')) throw bad("must stay inside the sandbox (no '.' or '..')");
  if (containerPath.includes(':') || containerPath.includes('\0')) throw bad("must not contain ':' or NUL");
  return parts.join('/');
}

/** Where a volume appears in a sandbox; refuses paths that would leave it. */
export function volumeTarget(sandbox: string, containerPath: string): string {
  return join(sandbox, containerPathOf(containerPath));
}

/**
 * The mounts for the persistent volumes in `resources`: their directories (made if missing) and
 * container paths (checked). Synchronous calls: a tiny syscall costs far less than a trip
 * through libuv's thread pool (bench/volumes).
 */
export function volumeMounts(paths: AgentPaths, resources: Resources): VolumeMount[] {
  const out: VolumeMount[] = [];
  for (const v of resources.persistentVolumes()) {
    const source = paths.volumeDir(v.role, v.disk!.persistence!.id);
    const containerPath = containerPathOf(v.disk!.volume!.containerPath);
    mkdirSync(source, { recursive: true, mode: VOLUME_DIR_MODE });
    out.push({ source, containerPath, readOnly: v.disk!.volume!.mode === 'RO' });
  }
  return out;
}

/**
 * The fallback where no mount namespace can be made: a symlink `<sandbox>/<container path>` →
 * the volume directory for each mount (read-only cannot be enforced this way).
 */
export function linkVolumes(sandbox: string, mounts: readonly VolumeMount[]): void {
  for (const m of mounts) {
    const target = volumeTarget(sandbox, m.containerPath);
    const parent = dirname(target);
    if (parent !== sandbox) mkdirSync(parent, { recursive: true });
    try {
      symlinkSync(m.source, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}
