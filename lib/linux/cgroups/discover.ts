/**
 * Discovery: which cgroups version and where, found at start-up from /proc/self/mountinfo and
 * /proc/cgroups (CGROUPS_NOT_FOUND when there is no usable hierarchy), and the `Cgroups` over it.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { CorralError } from '../../common/errors.ts';
import type { Cgroups, CgroupsLayout } from './types.ts';
import { CgroupsV1 } from './v1.ts';
import { CgroupsV2 } from './v2.ts';

/** One line of /proc/self/mountinfo: its mount point, file system type and super options. */
function parseMountinfo(text: string): { mountPoint: string; fsType: string; superOptions: string }[] {
  const out: { mountPoint: string; fsType: string; superOptions: string }[] = [];
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of text.split('\n')) {
    if (!line) continue;
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    if (left.length < 5 || right.length < 3) continue;
    out.push({ mountPoint: unescape(left[4]!), fsType: right[0]!, superOptions: right[2]! });
  }
  return out;
}

/** Enabled controllers of /proc/cgroups (name → enabled). */
function parseProcCgroups(text: string): Map<string, boolean> {
  const m = new Map<string, boolean>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    if (f.length >= 4) m.set(f[0]!, f[3] === '1');
  }
  return m;
}

/**
 * Where the cgroups of `hierarchy` are, from the text of /proc/self/mountinfo and /proc/cgroups
 * (pure: tests give it fake text). v2 when `hierarchy` itself is a cgroup2 mount; otherwise v1,
 * with every cgroup (v1) mount at or directly below `hierarchy` whose controllers are enabled.
 */
export function findCgroups(hierarchy: string, mountinfo: string, procCgroups: string): CgroupsLayout {
  const h = posix.normalize(hierarchy).replace(/\/+$/, '') || '/';
  const mounts = parseMountinfo(mountinfo);
  // The last mount on a point is the visible one.
  const at = (p: string) => [...mounts].reverse().find((m) => m.mountPoint === p);
  const top = at(h);
  if (top?.fsType === 'cgroup2') return { version: 2, hierarchy: h };
  const enabled = parseProcCgroups(procCgroups);
  const found = new Map<string, string>();
  for (const m of mounts) {
    if (m.fsType !== 'cgroup') continue;
    if (m.mountPoint !== h && posix.dirname(m.mountPoint) !== h) continue;
    if (at(m.mountPoint) !== m) continue;
    for (const opt of m.superOptions.split(',')) {
      if (enabled.get(opt) === true) found.set(opt, m.mountPoint);
    }
  }
  if (found.size === 0) {
    throw new CorralError(
      'CGROUPS_NOT_FOUND',
      `no cgroup hierarchy at ${h}: it is neither a cgroup2 mount nor holds cgroup v1 mounts of enabled controllers (see /proc/self/mountinfo, /proc/cgroups)`,
    );
  }
  return { version: 1, hierarchy: h, mounts: found };
}

/**
 * The cgroups of `hierarchy` on this host (default /sys/fs/cgroup): reads /proc/self/mountinfo
 * and /proc/cgroups once.
 */
export function openCgroups(hierarchy = '/sys/fs/cgroup'): Cgroups {
  const layout = findCgroups(hierarchy, readFileSync('/proc/self/mountinfo', 'utf8'), readFileSync('/proc/cgroups', 'utf8'));
  return cgroupsOf(layout);
}

/** A Cgroups over a known layout (a fake tree in tests). */
export function cgroupsOf(layout: CgroupsLayout): Cgroups {
  return layout.version === 1 ? new CgroupsV1(layout.hierarchy, layout.mounts) : new CgroupsV2(layout.hierarchy);
}
