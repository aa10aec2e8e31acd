/**
 * A user name to its uid and primary gid, through the system's name service (`getent passwd`,
 * so NSS users count too). Node has no getpwnam; one short child process per name, remembered.
 */
import { execFile } from 'node:child_process';
import type { Ids } from './extract.ts';

export class UserLookup {
  private readonly known = new Map<string, Ids>();

  /** The ids of `name`, or undefined when there is no such user. */
  async ids(name: string): Promise<Ids | undefined> {
    const hit = this.known.get(name);
    if (hit) return hit;
    const line = await new Promise<string | undefined>((resolve, reject) => {
      execFile('getent', ['passwd', name], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (err, stdout) => {
        if (!err) return resolve(stdout);
        // getent: exit 2 = no such key.
        if ((err as { code?: unknown }).code === 2) return resolve(undefined);
        reject(new Error(`cannot look up user '${name}': ${err.message}`));
      });
    });
    const fields = line?.split('\n')[0]?.split(':');
    if (!fields || fields.length < 4) return undefined;
    const ids = { uid: Number(fields[2]), gid: Number(fields[3]) };
    if (!Number.isInteger(ids.uid) || !Number.isInteger(ids.gid)) return undefined;
    this.known.set(name, ids);
    return ids;
  }
}
