/**
 * How a process's end reads in words, as the C library's strsignal(3) on Linux (glibc) describes
 * each signal: the text Mesos puts in a command task's terminal update ("Command terminated with
 * signal Terminated"), so frameworks that match on it see the same words.
 */
const DESCRIPTIONS: readonly string[] = [
  '',
  'Hangup',
  'Interrupt',
  'Quit',
  'Illegal instruction',
  'Trace/breakpoint trap',
  'Aborted',
  'Bus error',
  'Floating point exception',
  'Killed',
  'User defined signal 1',
  'Segmentation fault',
  'User defined signal 2',
  'Broken pipe',
  'Alarm clock',
  'Terminated',
  'Stack fault',
  'Child exited',
  'Continued',
  'Stopped (signal)',
  'Stopped',
  'Stopped (tty input)',
  'Stopped (tty output)',
  'Urgent I/O condition',
  'CPU time limit exceeded',
  'File size limit exceeded',
  'Virtual timer expired',
  'Profiling timer expired',
  'Window changed',
  'I/O possible',
  'Power failure',
  'Bad system call',
];

/** glibc's first real-time signal as programs see it (SIGRTMIN: 32 and 33 are the C library's own). */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** The description of signal `n` (15 → "Terminated", 9 → "Killed"). */
export function signalDescription(n: number): string {
  if (Number.isInteger(n) && n > 0 && n < DESCRIPTIONS.length) return DESCRIPTIONS[n]!;
  if (Number.isInteger(n) && n >= SIGRTMIN && n <= SIGRTMAX) return `Real-time signal ${n - SIGRTMIN}`;
  return `Unknown signal ${n}`;
}

/** A wait(2) status's core-dump bit. */
export function coreDumped(wstatus: number | undefined): boolean {
  return wstatus !== undefined && (wstatus & 0x80) !== 0;
}
