/**
 * A local source that the task's user swaps for a FIFO between the fetcher's check and its read
 * never holds a cache fill: the read (as the user, into the agent's cache file) ends at once, with
 * the file's content or an error, never blocking on the FIFO. Needs root and the `nobody` user.
 */
import anyTest from 'ava';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { AsUser } from '../../../lib/agent/fetcher/as_user.ts';
import { rootOnly } from '../../helpers/root.ts';
import { tempDir } from './helpers.ts';

const test = rootOnly(anyTest);
const idOf = (flag: '-u' | '-g', name: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());

test('a source swapped for a FIFO after its check ends the read at once instead of blocking the fill', async (t) => {
  const dir = tempDir(t, 'corral-fetch-fifo-');
  chmodSync(dir, 0o755);
  const uid = idOf('-u', 'nobody');
  const gid = idOf('-g', 'nobody');
  // nobody's directory: a regular file, a FIFO, and `src`, a symlink it flips between them.
  const own = join(dir, 'nobody');
  mkdirSync(own);
  chownSync(own, uid, gid);
  const run = (cmd: string): void =>
    void execFileSync('setpriv', ['--reuid', String(uid), '--regid', String(gid), '--clear-groups', 'sh', '-c', cmd], { cwd: own });
  run('printf data > file && mkfifo fifo && ln -s file src');
  const swapper: ChildProcess = spawn(
    'setpriv',
    [
      '--reuid',
      String(uid),
      '--regid',
      String(gid),
      '--clear-groups',
      'sh',
      '-c',
      'while :; do ln -sfn fifo t1 && mv -T t1 src; ln -sfn file t2 && mv -T t2 src; done',
    ],
    { cwd: own, stdio: 'ignore' },
  );
  t.teardown(() => void swapper.kill('SIGKILL'));
  const sandbox = join(dir, 'sandbox');
  mkdirSync(sandbox);
  writeFileSync(join(dir, 'out'), '');
  // Each read is given 10 s: one blocked on the FIFO is killed then and fails the test.
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 60; i++) {
    const signal = AbortSignal.timeout(10_000);
    const asUser = new AsUser({ name: 'nobody', uid, gid, groups: [gid] }, sandbox, signal);
    const fh = await open(join(dir, 'out'), 'w');
    let outcome: string;
    try {
      await asUser.readInto(join(own, 'src'), fh.fd);
      const got = (await fh.stat()).size;
      outcome = got === 4 ? 'read the file' : `read ${got} bytes`;
    } catch (e) {
      t.false(signal.aborted, `read ${i} blocked until it was killed`);
      outcome = (e as Error).message.replace(/'[^']*'/g, "'…'");
    } finally {
      await fh.close();
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  t.log(Object.fromEntries(outcomes));
});
