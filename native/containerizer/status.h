/* Durable status records of corral-containerizer. */
#ifndef CRL_CTR_STATUS_H
#define CRL_CTR_STATUS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The status line for a child that ended with wait status `wstatus`:
 *   {"pid":N,"status":"exited","code":N}   or   {"pid":N,"status":"signaled","signal":N}
 */
void ctr_status_ended(char *buf, size_t size, pid_t pid, int wstatus);

/*
 * The status line for a command that could not be started (exec failed):
 *   {"pid":N,"status":"failed","code":126|127,"error":"..."}
 */
void ctr_status_failed(char *buf, size_t size, pid_t pid, int code, const char *error);

/*
 * Replace `path` with `line` + "\n" durably: write a temp file beside it, fsync, rename over
 * `path`, fsync the directory. Returns 0, or -errno with `what` set to the failed step.
 */
int ctr_status_write(const char *path, const char *line, const char **what);

#endif
