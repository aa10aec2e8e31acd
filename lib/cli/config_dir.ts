/**
 * Flag files, as Mesos's packages keep them in /etc/mesos-slave/*: a directory per daemon with
 * one file per flag, named after it and holding its value (`/etc/corral/agent/work_dir` holding
 * `/var/lib/corral/agent`). `--config_dir=DIR` (or `CORRAL_CONFIG_DIR`) names the directory; the
 * packaged units pass `/etc/corral/master` and `/etc/corral/agent`.
 *
 * In a file, blank lines and lines starting with '#' are skipped and one line holds the value. A
 * file whose name starts with '.', holds a '.' or ends with '~' is not a flag file and is skipped
 * (README.md, dpkg's `*.dpkg-old` / `*.dpkg-dist`, editor back-ups). The command line and the
 * environment win over the files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../common/errors.ts';
import { type FileFlag, FlagError, FlagSourceError } from '../common/flags.ts';

export const CONFIG_DIR_HELP =
  "  --config_dir=DIR\n      A directory of flag files, one per flag, named after it and holding its value (/etc/corral/<daemon>/<flag>, as /etc/mesos-slave/*); '#' lines are comments. The command line, then CORRAL_*/MESOS_* variables, win over them";

/** Whether a directory entry is a flag file (README.md, foo.dpkg-old, foo~ are not). */
export function isFlagFileName(name: string): boolean {
  return !name.startsWith('.') && !name.includes('.') && !name.endsWith('~');
}

/** The flag files of `dir`, by flag name. Errors name the file (and line). */
export function readConfigDir(dir: string): Record<string, FileFlag> {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new FlagError('config_dir', `'${dir}' is not a directory`);
    names = readdirSync(dir);
  } catch (e) {
    if (e instanceof FlagError) throw e;
    throw new FlagError('config_dir', `cannot read '${dir}': ${describeError(e)}`);
  }
  const out: Record<string, FileFlag> = {};
  for (const name of names.filter(isFlagFileName).sort()) {
    const path = join(dir, name);
    let text: string;
    try {
      if (!statSync(path).isFile()) throw new FlagSourceError(path, 'is not a file (a flag file holds the value of the flag it is named after)');
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if (e instanceof FlagSourceError) throw e;
      throw new FlagSourceError(path, `cannot be read: ${describeError(e)}`);
    }
    let found: FileFlag | undefined;
    for (const [i, raw] of text.split('\n').entries()) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      if (found) throw new FlagSourceError(`${path}:${i + 1}`, `a second value (a flag file holds one value, on one line; the first is on ${found.where})`);
      found = { value: line, where: `${path}:${i + 1}` };
    }
    out[name] = found ?? { value: '', where: `${path}:1` };
  }
  return out;
}

/**
 * Takes `--config_dir=DIR` out of `argv` (else `CORRAL_CONFIG_DIR`) and reads that directory's
 * flag files; no directory named: none.
 */
export function configDirFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { argv: string[]; files: Record<string, FileFlag>; dir?: string } {
  let dir = env.CORRAL_CONFIG_DIR;
  const rest: string[] = [];
  for (const a of argv) {
    if (a.startsWith('--config_dir=')) dir = a.slice('--config_dir='.length);
    else if (a === '--config_dir') throw new FlagError('config_dir', 'needs a value: --config_dir=DIR');
    else rest.push(a);
  }
  if (dir === undefined) return { argv: rest, files: {} };
  if (dir.trim() === '') throw new FlagError('config_dir', 'is empty');
  return { argv: rest, files: readConfigDir(dir), dir };
}
