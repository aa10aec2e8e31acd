/**
 * Which cgroups a process is in, as the `cgroup.procs` files a process writes its pid into to
 * join them: for each hierarchy of /proc/PID/cgroup where PID's cgroup is not this process's
 * own, that cgroup's `cgroup.procs` under the hierarchy's mount (its mount root taken off the
 * path). Used to put a process beside another, e.g. a health check beside its task.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

interface CgroupMount {
  readonly root: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly options: ReadonlySet<string>;
}

const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

function cgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    if (left.length < 5 || right.length < 3 || (right[0] !== 'cgroup' && right[0] !== 'cgroup2')) continue;
    out.push({ root: unescape(left[3]!), mountPoint: unescape(left[4]!), fsType: right[0]!, options: new Set(right[2]!.split(',')) });
  }
  return out;
}

/** hierarchy key (its controllers, or "" for v2) → cgroup path, from the text of /proc/PID/cgroup. */
function parseProcCgroup(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    m.set(line.slice(a + 1, b), line.slice(b + 1));
  }
  return m;
}

/**
 * The `cgroup.procs` files of the cgroups `pid` is in and this process is not, from the texts
 * of /proc/PID/cgroup, /proc/self/cgroup and /proc/self/mountinfo (pure: tested without a host).
 */
export function joinFiles(procCgroup: string, selfCgroup: string, mountinfo: string): string[] {
  const theirs = parseProcCgroup(procCgroup);
  const ours = parseProcCgroup(selfCgroup);
  const mounts = cgroupMounts(mountinfo);
  const out: string[] = [];
  for (const [key, path] of theirs) {
    if (ours.get(key) === path) continue;
    const mount =
      key === '' ? mounts.find((m) => m.fsType === 'cgroup2') : mounts.find((m) => m.fsType === 'cgroup' && key.split(',').every((c) => m.options.has(c)));
    if (!mount) continue;
    const rel = mount.root === '/' ? path : path.startsWith(mount.root + '/') ? path.slice(mount.root.length) : path === mount.root ? '/' : undefined;
    if (rel === undefined) continue;
    out.push(posix.join(mount.mountPoint, rel, 'cgroup.procs'));
  }
  return out;
}

/** The `cgroup.procs` files of the cgroups `pid` is in and this process is not (empty when it is gone). */
export function cgroupJoinFiles(pid: number): string[] {
  let theirs: string;
  try {
    theirs = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return [];
  }
  return joinFiles(theirs, readFileSync('/proc/self/cgroup', 'utf8'), readFileSync('/proc/self/mountinfo', 'utf8'));
}
