/**
 * A user name to its uid, primary gid and groups, through the system's name service (`getent`,
 * so NSS users count too). Node has no getpwnam; two short child processes per name, remembered.
 *
 * Names are looked up as names only, as the supervisor's getpwnam does: `getent passwd` also
 * takes a uid ("0", " 0" give root's entry), so an entry whose name is not the requested one
 * counts as no such user. The groups are those of the name (`getent initgroups`, plus the
 * primary gid, as initgroups(name, gid) gives the task), not those of the first name of its uid.
 */
import { execFile } from 'node:child_process';
import type { Ids } from './extract.ts';

export interface UserIds extends Ids {
  /** Every group the user's processes get: the primary gid first, then the name's other groups. */
  readonly groups: readonly number[];
}

function getent(db: string, name: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    execFile('getent', [db, '--', name], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (err, stdout) => {
      if (!err) return resolve(stdout);
      // getent: exit 2 = no such key.
      if ((err as { code?: unknown }).code === 2) return resolve(undefined);
      reject(new Error(`cannot look up user '${name}': ${err.message}`));
    });
  });
}

export class UserLookup {
  private readonly known = new Map<string, UserIds>();

  /** The ids of the user named `name`, or undefined when no user has that name. */
  async ids(name: string): Promise<UserIds | undefined> {
    const hit = this.known.get(name);
    if (hit) return hit;
    const fields = (await getent('passwd', name))?.split('\n')[0]?.split(':');
    if (!fields || fields.length < 4 || fields[0] !== name) return undefined;
    const uid = Number(fields[2]);
    const gid = Number(fields[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
    // "name  gid gid ..." (the supplementary groups of the name).
    const listed = ((await getent('initgroups', name)) ?? '').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const groups = [gid, ...listed.filter((g) => Number.isInteger(g) && g !== gid)];
    const ids = { uid, gid, groups: Array.from(new Set(groups)) };
    this.known.set(name, ids);
    return ids;
  }
}
