/** The ZooKeeper test harness itself: it removes what it starts, and what a crashed run left. */
import anyTest from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZK_ROOT, ZkEnsemble, clearLeftoverEnsembles, waitUntil, zookeeperOnly } from '../../helpers/zookeeper.ts';
import { pidAlive } from '../../helpers/processes.ts';

anyTest('leftovers of a crashed run (owner gone) are killed and removed; a live owner is left alone', async (t) => {
  // A pid that is surely gone: a process that ran and exited.
  const gone = spawn(process.execPath, ['-e', '']);
  const deadPid = await new Promise<number>((resolve) => gone.on('exit', () => resolve(gone.pid!)));
  const dir = join(ZK_ROOT, `${deadPid}-99`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'owner'), String(deadPid));
  // A stand-in for a leftover server, marked like the harness marks its java processes.
  const server = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', '--', `-Dcorral.test.zk=${dir}`], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => server.on('exit', () => resolve()));
  t.teardown(() => server.kill('SIGKILL'));
  writeFileSync(join(dir, 'server1.pid'), String(server.pid));
  // Another process's pid in a pidfile that does not carry the mark is not killed.
  const bystander = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.teardown(() => bystander.kill('SIGKILL'));
  writeFileSync(join(dir, 'server2.pid'), String(bystander.pid));
  const mine = join(ZK_ROOT, `${process.pid}-98`);
  mkdirSync(mine, { recursive: true });
  writeFileSync(join(mine, 'owner'), String(process.pid));
  t.teardown(() => void clearLeftoverEnsembles());

  const cleared = clearLeftoverEnsembles();
  t.true(cleared.includes(dir));
  t.false(cleared.includes(mine));
  await exited;
  t.false(existsSync(dir));
  t.true(existsSync(mine));
  t.true(pidAlive(bystander.pid!));
  rmSync(mine, { recursive: true, force: true });
});

zookeeperOnly(anyTest)('stop() ends the servers and removes their directory', async (t) => {
  const zk = await ZkEnsemble.start(1);
  t.teardown(() => zk.stop());
  t.is(await zk.mode(1), 'standalone');
  const pid = Number(readFileSync(join(zk.dir, 'server1.pid'), 'utf8'));
  t.true(pidAlive(pid));
  await zk.stop();
  t.false(existsSync(zk.dir));
  await waitUntil(() => !pidAlive(pid), 'the server gone');
  t.is(await zk.mode(1), undefined);
});
