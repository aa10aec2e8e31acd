/**
 * What a supervisor leaves in its run directory (its pid record, its exit record), read back
 * as terminations: how a container's end is learnt when the agent was not there to see it.
 */
import { describeError } from '../../common/errors.ts';
import { isSameProcess, listPids, readExitRecord, readPidRecord, readProcStat, type SupervisorExitRecord } from '../../linux/index.ts';
import type { RecoveredRun, Termination } from './containerizer.ts';

export const NO_STATUS = -1;

/** A Termination from the supervisor's record. */
export function terminationOf(r: SupervisorExitRecord): Termination {
  switch (r.status) {
    case 'exited':
      return { exitCode: r.code, status: r.wstatus };
    case 'signaled':
      return { signal: r.signal, status: r.wstatus };
    case 'failed':
      return { exitCode: r.code, status: r.wstatus, message: `Failed to start the command: ${r.error}` };
    case 'aborted':
      return { status: NO_STATUS, message: 'The launch was aborted before the command started' };
  }
}

export function vanished(detail: string): Termination {
  return { status: NO_STATUS, message: `supervisor vanished: ${detail}` };
}

/** The termination recorded in `runDir`, if any (a bad record is a termination too). */
export async function recordedEnd(runDir: string): Promise<Termination | undefined> {
  try {
    const r = await readExitRecord(runDir);
    return r && terminationOf(r);
  } catch (e) {
    return { status: NO_STATUS, message: describeError(e) };
  }
}

/** A run's records: how it ended, or its supervisor (pid and start time) and whether it is alive. */
export type RunRecord = { end: Termination } | { pid: number; startTime: number; alive: boolean };

/**
 * Every run's records at once, and when a supervisor is alive, the process table once: each
 * parent pid's first child (a supervisor's command).
 */
export async function readRunRecords(fresh: readonly RecoveredRun[]): Promise<{ records: RunRecord[]; childOf: Map<number, number> }> {
  const records = await Promise.all(
    fresh.map(async (run): Promise<{ end: Termination } | { pid: number; startTime: number; alive: boolean }> => {
      let rec: Awaited<ReturnType<typeof readPidRecord>>;
      let bad: unknown;
      try {
        rec = await readPidRecord(run.runDir);
      } catch (e) {
        bad = e;
      }
      const alive = rec !== undefined && isSameProcess(rec.pid, rec.startTime);
      if (rec && alive) return { ...rec, alive };
      const recorded = await recordedEnd(run.runDir);
      if (recorded) return { end: recorded };
      if (bad !== undefined) return { end: vanished(describeError(bad)) };
      return rec ? { ...rec, alive } : { end: vanished(`no supervisor was recorded in ${run.runDir} and no exit status`) };
    }),
  );
  const childOf = new Map<number, number>();
  if (records.some((r) => 'alive' in r && r.alive)) {
    for (const pid of listPids()) {
      const st = readProcStat(pid);
      if (st && !childOf.has(st.ppid)) childOf.set(st.ppid, st.pid);
    }
  }
  return { records, childOf };
}
