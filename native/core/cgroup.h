/*
 * cgroup v1 notifications (Documentation/admin-guide/cgroup-v1/memory.rst, "notification API"):
 * an eventfd registered through a cgroup's cgroup.event_control for one of its control files,
 * e.g. memory.oom_control (the OOM killer ran in the cgroup) or memory.pressure_level.
 * The kernel also signals the eventfd once when the cgroup is removed.
 */
#ifndef CRL_CGROUP_H
#define CRL_CGROUP_H

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Register an eventfd for `file` of the cgroup directory `dir`, with `args` appended to the
 * registration when not NULL (memory.pressure_level takes "low", "medium" or "critical").
 * On success returns 0 with fds[0] = the eventfd (non-blocking) and fds[1] = the open control
 * file (keep it open while listening); both close-on-exec. Negative on failure (nothing left open).
 */
int crl_cgroup_event_open(const char *dir, const char *file, const char *args, int fds[2],
                          struct crl_err *err);

/*
 * Take the eventfd's count (reading resets it). Returns 1 with *count set if it had fired, 0 if
 * not, negative on failure.
 */
int crl_eventfd_take(int efd, unsigned long long *count, struct crl_err *err);

#ifdef __cplusplus
}
#endif

#endif /* CRL_CGROUP_H */
