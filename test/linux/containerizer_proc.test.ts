/**
 * lib/linux/proc.ts: /proc/PID/stat parsing, a container's processes (tree + sessions), and the
 * kernel constants from the auxiliary vector.
 */
import test from 'ava';
import { clockTicks, containedProcesses, pageSize, parseProcStat, readProcStat, type ProcStat } from '../../lib/linux/index.ts';

test('parseProcStat: a comm with spaces and parentheses, and the fields after it', (t) => {
  const fields = Array.from({ length: 50 }, (_v, i) => String(i + 3));
  fields[0] = 'S';
  const s = parseProcStat(`42 (a (b) c) ${fields.join(' ')}\n`);
  t.like(s, { pid: 42, comm: 'a (b) c', state: 'S', ppid: 4, pgrp: 5, session: 6, utime: 14, stime: 15, cutime: 16, cstime: 17, startTime: 22 });
  t.is(parseProcStat('garbage'), undefined);
});

test('readProcStat: this process', (t) => {
  const s = readProcStat(process.pid);
  t.is(s?.pid, process.pid);
  t.is(s?.ppid, process.ppid);
  t.true((s?.startTime ?? 0) > 0);
  t.is(readProcStat(2 ** 30), undefined);
});

test('containedProcesses: descendants of the root and members of its children’s sessions, not the root', (t) => {
  const p = (pid: number, ppid: number, session: number): ProcStat => ({
    pid,
    ppid,
    session,
    pgrp: session,
    comm: 'x',
    state: 'S',
    utime: 0,
    stime: 0,
    cutime: 0,
    cstime: 0,
    startTime: 1,
  });
  const stats = [p(1, 0, 1), p(10, 1, 1), p(11, 10, 11), p(12, 11, 11), p(13, 12, 13), p(14, 1, 11), p(15, 1, 15), p(16, 15, 15)];
  t.deepEqual(
    containedProcesses(stats, 10)
      .map((s) => s.pid)
      .sort((a, b) => a - b),
    [11, 12, 13, 14],
  );
  t.deepEqual(containedProcesses(stats, 99), []);
});

test('page size and clock tick come from the auxiliary vector', (t) => {
  t.true([4096, 16384, 65536].includes(pageSize()));
  t.is(clockTicks(), 100);
});
