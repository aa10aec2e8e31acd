/*
 * Named, persistent network namespaces, compatible with iproute2's `ip netns`: a namespace
 * named NAME is kept alive by a bind mount of its nsfs file on /run/netns/NAME.
 *
 * unshare()/setns() only ever run on a private, short-lived pthread made here (never on the
 * caller's thread), so the caller's thread stays in its own namespace whatever happens.
 */
#ifndef CRL_NETNS_H
#define CRL_NETNS_H

#include <stddef.h>
#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRL_NETNS_RUN_DIR "/run/netns"
/* Longest accepted name (a file name under CRL_NETNS_RUN_DIR). */
#define CRL_NETNS_NAME_MAX 255

struct crl_netns_info {
  unsigned long long dev; /* st_dev of the nsfs file */
  unsigned long long ino; /* the namespace's inode number, as in /proc/PID/ns/net */
};

/* 0 if `name` is a usable namespace name, else -EINVAL with err filled. */
int crl_netns_check_name(const char *name, struct crl_err *err);

/*
 * Create the named namespace. Returns 1 if created, 0 if a namespace of that name already
 * exists, negative on failure (nothing is left behind then). A file of that name that is not a
 * namespace mount (a leftover) is an EEXIST error: remove it with crl_netns_remove first.
 */
int crl_netns_create(const char *name, struct crl_err *err);

/*
 * Remove the named namespace: unmount (lazily) and unlink its file. Returns 1 if something
 * was removed, 0 if there was nothing, negative on failure. Processes still inside the
 * namespace keep it alive; only the name goes.
 */
int crl_netns_remove(const char *name, struct crl_err *err);

/* 1 and `info` filled if the named namespace exists, 0 if not, negative on failure. */
int crl_netns_get(const char *name, struct crl_netns_info *info, struct crl_err *err);

/* Open the named namespace's file (O_RDONLY | O_CLOEXEC). Returns the fd or negative. */
int crl_netns_open(const char *name, struct crl_err *err);

/* Pass as `nsfd` to crl_netns_run: run inside a brand-new namespace. */
#define CRL_NETNS_NEW (-2)

/*
 * Run fn(arg, err) on a private thread that first enters the namespace `nsfd` (setns), or a new
 * one when nsfd == CRL_NETNS_NEW (unshare). Waits for the thread and returns fn's result (or
 * the failure of thread creation / setns / unshare). Sockets fn opens stay bound to that
 * namespace after the thread is gone: that is how netlink work happens "inside" a namespace.
 * All signals are blocked on the private thread.
 */
int crl_netns_run(int nsfd, int (*fn)(void *arg, struct crl_err *err), void *arg,
                  struct crl_err *err);

#ifdef __cplusplus
}
#endif

#endif /* CRL_NETNS_H */
