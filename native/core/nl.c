#define _GNU_SOURCE
#include "nl.h"

#include <errno.h>
#include <unistd.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "netns.h"

int crl_nl_err(struct crl_err *err, int nlerr, const char *op, const char *detail) {
  int e;
  if (nlerr < 0) nlerr = -nlerr;
  switch (nlerr) {
    case NLE_INTR: e = EINTR; break;
    case NLE_BAD_SOCK: e = EBADF; break;
    case NLE_AGAIN: e = EAGAIN; break;
    case NLE_NOMEM: e = ENOMEM; break;
    case NLE_EXIST: e = EEXIST; break;
    case NLE_INVAL: e = EINVAL; break;
    case NLE_RANGE: e = ERANGE; break;
    case NLE_MSGSIZE: e = EMSGSIZE; break;
    case NLE_OPNOTSUPP: e = EOPNOTSUPP; break;
    case NLE_AF_NOSUPPORT: e = EAFNOSUPPORT; break;
    case NLE_OBJ_NOTFOUND: e = ENOENT; break;
    case NLE_NOATTR: e = ENOENT; break;
    case NLE_MISSING_ATTR: e = EINVAL; break;
    case NLE_AF_MISMATCH: e = EAFNOSUPPORT; break;
    case NLE_SEQ_MISMATCH: e = EPROTO; break;
    case NLE_MSG_OVERFLOW: e = EOVERFLOW; break;
    case NLE_MSG_TRUNC: e = EMSGSIZE; break;
    case NLE_NOADDR: e = EADDRNOTAVAIL; break;
    case NLE_SRCRT_NOSUPPORT: e = EOPNOTSUPP; break;
    case NLE_MSG_TOOSHORT: e = EPROTO; break;
    case NLE_MSGTYPE_NOSUPPORT: e = EOPNOTSUPP; break;
    case NLE_OBJ_MISMATCH: e = EINVAL; break;
    case NLE_NOCACHE: e = ENOENT; break;
    case NLE_BUSY: e = EBUSY; break;
    case NLE_PROTO_MISMATCH: e = EPROTONOSUPPORT; break;
    case NLE_NOACCESS: e = EACCES; break;
    case NLE_PERM: e = EPERM; break;
    case NLE_PKTLOC_FILE: e = ENOENT; break;
    case NLE_PARSE_ERR: e = EINVAL; break;
    case NLE_NODEV: e = ENODEV; break;
    case NLE_IMMUTABLE: e = EPERM; break;
    case NLE_DUMP_INTR: e = EINTR; break;
    case NLE_ATTRSIZE: e = ERANGE; break;
    default: e = EIO; break;
  }
  return crl_err_set(err, e, op, "%s%s%s", detail ? detail : "", detail && detail[0] ? ": " : "",
                     nl_geterror(nlerr));
}

struct open_ctx {
  struct nl_sock *sk;
};

static int open_here(void *arg, struct crl_err *err) {
  struct open_ctx *ctx = arg;
  struct nl_sock *sk = nl_socket_alloc();
  int rc;
  if (!sk) return crl_err_set(err, ENOMEM, "nl_socket_alloc", NULL);
  rc = nl_connect(sk, NETLINK_ROUTE);
  if (rc < 0) {
    rc = crl_nl_err(err, rc, "nl_connect", "NETLINK_ROUTE");
    nl_socket_free(sk);
    return rc;
  }
  ctx->sk = sk;
  return 0;
}

int crl_nl_open(const char *netns_name, struct nl_sock **out, struct crl_err *err) {
  struct open_ctx ctx = {NULL};
  int rc, fd;
  *out = NULL;
  if (!netns_name) {
    rc = open_here(&ctx, err);
  } else {
    fd = crl_netns_open(netns_name, err);
    if (fd < 0) return fd;
    rc = crl_netns_run(fd, open_here, &ctx, err);
    close(fd);
  }
  if (rc < 0) return rc;
  *out = ctx.sk;
  return 0;
}

void crl_nl_close(struct nl_sock *sk) {
  if (sk) nl_socket_free(sk); /* closes the socket too */
}
