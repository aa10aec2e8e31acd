/* Records of corral-containerizer: its pid file and the run's exit status, written atomically. */
#ifndef CRL_CTR_STATUS_H
#define CRL_CTR_STATUS_H

#include <stddef.h>
#include <sys/types.h>

/* {"pid":N,"start_time":T}: the supervisor's pid and its start time (/proc/PID/stat field 22). */
void ctr_record_pid(char *buf, size_t size, pid_t pid, unsigned long long start_time);

/*
 * The status line for a child that ended with wait status `wstatus`:
 *   {"pid":N,"status":"exited","code":N,"wstatus":N}
 *   {"pid":N,"status":"signaled","signal":N,"wstatus":N}
 */
void ctr_status_ended(char *buf, size_t size, pid_t pid, int wstatus);

/*
 * The status line for a command that could not be started (exec or a step before it failed):
 *   {"pid":N,"status":"failed","code":126|127,"error":"...","wstatus":N}
 */
void ctr_status_failed(char *buf, size_t size, pid_t pid, int code, const char *error, int wstatus);

/* The status line of a launch the agent abandoned before releasing the command:
 * {"pid":N,"status":"aborted"} */
void ctr_status_aborted(char *buf, size_t size, pid_t pid);

/*
 * Replace `name` in the directory `dirfd` with `line` + "\n" atomically: write a temp file
 * beside it, rename it over `name`. With `durable`, fsync the file before the rename and the
 * directory after it. Returns 0, or -errno with `what` set to the failed step.
 */
int ctr_write_atomic(int dirfd, const char *name, const char *line, int durable, const char **what);

/*
 * Reserve the space of a later ctr_write_reserved of `name` (a line of up to size - 1 bytes): the
 * temp file that write will rename over `name` is made now, `size` bytes written and synced, so
 * filling it in needs no new blocks (on file systems that overwrite in place: not btrfs). `name`
 * itself is not touched. Returns the temp file's fd, or -errno with `what` set to the failed step.
 */
int ctr_reserve(int dirfd, const char *name, size_t size, const char **what);

/*
 * As ctr_write_atomic with `durable`, into the file ctr_reserve made (`fd`, closed here): `line`
 * + "\n" written over its start, cut to that length, synced, renamed over `name`. Returns 0, or
 * -errno with `what` set to the failed step (the temp file is then removed).
 */
int ctr_write_reserved(int dirfd, const char *name, int fd, const char *line, const char **what);

/* Give up a reservation: close `fd`, remove the temp file. */
void ctr_unreserve(int dirfd, const char *name, int fd);

/* Start time of process `pid` (0 = this process) in clock ticks since boot. Returns 0 or -errno. */
int ctr_start_time(pid_t pid, unsigned long long *out);

#endif
