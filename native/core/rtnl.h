/*
 * Raw rtnetlink: a NETLINK_ROUTE socket, a message builder and request/acknowledge and dump
 * round trips. Built only with the network isolator option (CORRAL_WITH_NETWORK_ISOLATOR).
 *
 * A socket belongs to the network namespace it was opened in, whatever thread uses it later:
 * crl_rtnl_open_in() opens one inside another namespace on a private thread.
 */
#ifndef CRL_RTNL_H
#define CRL_RTNL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRL_NLMSG_MAX 16384

struct crl_rtnl {
  int fd;
  uint32_t seq;
};

/* One message under construction. */
struct crl_nlmsg {
  size_t len; /* bytes used in buf */
  int overflow;
  _Alignas(8) unsigned char buf[CRL_NLMSG_MAX];
};

/* Open in the caller's (thread's) namespace. */
int crl_rtnl_open(struct crl_rtnl *sk, struct crl_err *err);
/* The same for another netlink protocol (NETLINK_SOCK_DIAG, ...). */
int crl_nl_open_proto(struct crl_rtnl *sk, int protocol, struct crl_err *err);
/* Open inside the network namespace behind `nsfd` (an fd of /proc/PID/ns/net or /run/netns/X). */
int crl_rtnl_open_in(int nsfd, struct crl_rtnl *sk, struct crl_err *err);
void crl_rtnl_close(struct crl_rtnl *sk);

/* Start a message: type, flags (NLM_F_REQUEST is added) and the fixed header of `hdrlen` bytes. */
void *crl_nlmsg_init(struct crl_nlmsg *m, uint16_t type, uint16_t flags, const void *hdr,
                     size_t hdrlen);
void crl_nlmsg_put(struct crl_nlmsg *m, uint16_t type, const void *data, size_t len);
void crl_nlmsg_put_u8(struct crl_nlmsg *m, uint16_t type, uint8_t v);
void crl_nlmsg_put_u16(struct crl_nlmsg *m, uint16_t type, uint16_t v);
void crl_nlmsg_put_u32(struct crl_nlmsg *m, uint16_t type, uint32_t v);
void crl_nlmsg_put_str(struct crl_nlmsg *m, uint16_t type, const char *s);
/* Nested attributes: the offset returned by begin is given to end. */
size_t crl_nlmsg_nest(struct crl_nlmsg *m, uint16_t type);
void crl_nlmsg_nest_end(struct crl_nlmsg *m, size_t start);

/*
 * Send the message and wait for its acknowledgement. Returns 0, or negative with the kernel's
 * errno (EEXIST, ENOENT, ...) in `err`, attributed to `op` and `what`.
 */
int crl_rtnl_talk(struct crl_rtnl *sk, struct crl_nlmsg *m, const char *op, const char *what,
                  struct crl_err *err);

/* Send a dump request and call `fn` for every reply message; stops at NLMSG_DONE. */
int crl_rtnl_dump(struct crl_rtnl *sk, struct crl_nlmsg *m,
                  int (*fn)(const void *nlh, void *ctx, struct crl_err *err), void *ctx,
                  const char *op, struct crl_err *err);

/* Walk attributes: for each rtattr in [data, data+len) call fn(type, payload, payload_len). */
void crl_rta_walk(const void *data, size_t len,
                  void (*fn)(uint16_t type, const void *p, size_t n, void *ctx), void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* CRL_RTNL_H */
