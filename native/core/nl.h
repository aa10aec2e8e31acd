/*
 * Netlink through libnl-route-3 (built only with the network isolator option:
 * gyp variable corral_network_isolator=1, which defines CORRAL_WITH_NETWORK_ISOLATOR).
 */
#ifndef CRL_NL_H
#define CRL_NL_H

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nl_sock;

/*
 * Open a connected NETLINK_ROUTE socket. With `netns_name` NULL it lives in the caller's
 * network namespace; otherwise it is opened on a private thread inside the named namespace and
 * stays bound to it (the socket is usable from any thread afterwards). Free with
 * crl_nl_close. Returns 0 or negative.
 */
int crl_nl_open(const char *netns_name, struct nl_sock **out, struct crl_err *err);
void crl_nl_close(struct nl_sock *sk);

/* Record a libnl error (negative NLE_* code) as the errno closest to it; returns negative. */
int crl_nl_err(struct crl_err *err, int nlerr, const char *op, const char *detail);

#ifdef __cplusplus
}
#endif

#endif /* CRL_NL_H */
