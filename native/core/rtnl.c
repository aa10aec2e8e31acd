#define _GNU_SOURCE
#include "rtnl.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns.h"

int crl_rtnl_open(struct crl_rtnl *sk, struct crl_err *err) {
  return crl_nl_open_proto(sk, NETLINK_ROUTE, err);
}

int crl_nl_open_proto(struct crl_rtnl *sk, int protocol, struct crl_err *err) {
  struct sockaddr_nl sa;
  int one = 1, size = 1 << 20;
  sk->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (sk->fd < 0) return crl_err_set(err, errno, "socket", "netlink protocol %d", protocol);
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  if (bind(sk->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int rc = crl_err_set(err, errno, "bind", "netlink protocol %d", protocol);
    close(sk->fd);
    sk->fd = -1;
    return rc;
  }
  /* Errors carry the extended ack; ask for it to be capped (no echo of the request). */
  setsockopt(sk->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  setsockopt(sk->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  sk->seq = 1;
  return 0;
}

static int open_here(void *arg, struct crl_err *err) {
  return crl_rtnl_open(arg, err);
}

int crl_rtnl_open_in(int nsfd, struct crl_rtnl *sk, struct crl_err *err) {
  sk->fd = -1;
  return crl_netns_run(nsfd, open_here, sk, err);
}

void crl_rtnl_close(struct crl_rtnl *sk) {
  if (sk->fd >= 0) close(sk->fd);
  sk->fd = -1;
}

void *crl_nlmsg_init(struct crl_nlmsg *m, uint16_t type, uint16_t flags, const void *hdr,
                     size_t hdrlen) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)m->buf;
  memset(m->buf, 0, NLMSG_SPACE(hdrlen));
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
  nlh->nlmsg_len = (uint32_t)NLMSG_LENGTH(hdrlen);
  if (hdr) memcpy(NLMSG_DATA(nlh), hdr, hdrlen);
  m->len = NLMSG_SPACE(hdrlen);
  m->overflow = 0;
  return NLMSG_DATA(nlh);
}

static void sync_len(struct crl_nlmsg *m) {
  ((struct nlmsghdr *)m->buf)->nlmsg_len = (uint32_t)m->len;
}

void crl_nlmsg_put(struct crl_nlmsg *m, uint16_t type, const void *data, size_t len) {
  struct rtattr *rta;
  size_t space = RTA_SPACE(len);
  if (m->overflow || m->len + space > sizeof m->buf) {
    m->overflow = 1;
    return;
  }
  rta = (struct rtattr *)(m->buf + m->len);
  rta->rta_type = type;
  rta->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(rta), data, len);
  memset((unsigned char *)RTA_DATA(rta) + len, 0, space - RTA_LENGTH(len));
  m->len += space;
  sync_len(m);
}

void crl_nlmsg_put_u8(struct crl_nlmsg *m, uint16_t type, uint8_t v) {
  crl_nlmsg_put(m, type, &v, 1);
}
void crl_nlmsg_put_u16(struct crl_nlmsg *m, uint16_t type, uint16_t v) {
  crl_nlmsg_put(m, type, &v, 2);
}
void crl_nlmsg_put_u32(struct crl_nlmsg *m, uint16_t type, uint32_t v) {
  crl_nlmsg_put(m, type, &v, 4);
}
void crl_nlmsg_put_str(struct crl_nlmsg *m, uint16_t type, const char *s) {
  crl_nlmsg_put(m, type, s, strlen(s) + 1);
}

size_t crl_nlmsg_nest(struct crl_nlmsg *m, uint16_t type) {
  size_t start = m->len;
  crl_nlmsg_put(m, (uint16_t)(type | NLA_F_NESTED), NULL, 0);
  return start;
}

void crl_nlmsg_nest_end(struct crl_nlmsg *m, size_t start) {
  if (m->overflow) return;
  ((struct rtattr *)(m->buf + start))->rta_len = (unsigned short)(m->len - start);
}

static int send_msg(struct crl_rtnl *sk, struct crl_nlmsg *m, const char *op, const char *what,
                    struct crl_err *err) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)m->buf;
  struct sockaddr_nl sa;
  if (m->overflow) return crl_err_set(err, EMSGSIZE, op, "%s: message too large", what ? what : "");
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  nlh->nlmsg_seq = ++sk->seq;
  for (;;) {
    ssize_t n = sendto(sk->fd, m->buf, nlh->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa);
    if (n >= 0) return 0;
    if (errno != EINTR) return crl_err_set(err, errno, "sendto", "netlink %s", op);
  }
}

/* Receive replies to sequence `seq`: fn for data messages; returns 0 at ACK/DONE, <0 on error. */
static int recv_replies(struct crl_rtnl *sk, uint32_t seq,
                        int (*fn)(const void *, void *, struct crl_err *), void *ctx,
                        const char *op, const char *what, struct crl_err *err) {
  static __thread unsigned char buf[1 << 16];
  int interrupted = 0;
  for (;;) {
    ssize_t n = recv(sk->fd, buf, sizeof buf, 0);
    struct nlmsghdr *nlh;
    if (n < 0) {
      if (errno == EINTR) continue;
      return crl_err_set(err, errno, "recv", "netlink %s", op);
    }
    for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, (unsigned)n); nlh = NLMSG_NEXT(nlh, n)) {
      if (nlh->nlmsg_seq != seq) continue;
      /* The kernel's objects changed during the dump: what was read may be incomplete. It can
         say so on any message, the closing DONE included. */
      if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = 1;
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(nlh);
        if (e->error == 0) return 0;
        return crl_err_set(err, -e->error, op, "%s", what ? what : "");
      }
      if (nlh->nlmsg_type == NLMSG_DONE) {
        /* A dump's end carries its error, if it failed part way. */
        int e = nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) ? *(int *)NLMSG_DATA(nlh) : 0;
        if (e < 0) return crl_err_set(err, -e, op, "%s", what ? what : "");
        /* Read to the end so the socket holds nothing of this dump, then let the caller retry. */
        if (interrupted)
          return crl_err_set(err, EINTR, op, "%s: objects changed during the dump",
                             what ? what : "");
        return 0;
      }
      if (interrupted) continue;
      if (fn) {
        int rc = fn(nlh, ctx, err);
        if (rc < 0) return rc;
      }
    }
  }
}

int crl_rtnl_talk(struct crl_rtnl *sk, struct crl_nlmsg *m, const char *op, const char *what,
                  struct crl_err *err) {
  int rc;
  ((struct nlmsghdr *)m->buf)->nlmsg_flags |= NLM_F_ACK;
  rc = send_msg(sk, m, op, what, err);
  if (rc < 0) return rc;
  return recv_replies(sk, sk->seq, NULL, NULL, op, what, err);
}

int crl_rtnl_dump(struct crl_rtnl *sk, struct crl_nlmsg *m,
                  int (*fn)(const void *nlh, void *ctx, struct crl_err *err), void *ctx,
                  const char *op, struct crl_err *err) {
  int rc;
  ((struct nlmsghdr *)m->buf)->nlmsg_flags |= NLM_F_DUMP;
  rc = send_msg(sk, m, op, NULL, err);
  if (rc < 0) return rc;
  return recv_replies(sk, sk->seq, fn, ctx, op, NULL, err);
}

void crl_rta_walk(const void *data, size_t len, void (*fn)(uint16_t, const void *, size_t, void *),
                  void *ctx) {
  const struct rtattr *rta = data;
  size_t left = len;
  for (; RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
    fn((uint16_t)(rta->rta_type & NLA_TYPE_MASK), RTA_DATA(rta), RTA_PAYLOAD(rta), ctx);
  }
}
