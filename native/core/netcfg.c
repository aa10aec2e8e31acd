#define _GNU_SOURCE
#include "netcfg.h"

#include <net/if.h> /* before the linux/ headers: they step aside for it */
#include <sys/ioctl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/gen_stats.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <linux/veth.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netns.h"
#include "rtnl.h"

/* ---- step encoders ---- */

/*
 * Link names resolved during one run of steps (one thread, one namespace): a step list names
 * the same few links many times (eth0, lo, the veth, a chunk's veths in each copy filter), and
 * each if_nametoindex costs a socket and an ioctl. Emptied at the start of every run and when
 * a link is deleted; failures are not kept.
 */
#define NAME_CACHE 64
static __thread struct {
  char name[CRL_IFNAME_MAX];
  int index;
} name_cache[NAME_CACHE];
static __thread int name_cache_n;

/* The run's netlink socket: SIOCGIFINDEX on it looks the name up in the socket's namespace,
 * without the extra socket if_nametoindex opens and closes for every name. */
static __thread int name_fd = -1;

static void name_cache_clear(void) {
  name_cache_n = 0;
}

static void name_cache_start(int fd) {
  name_cache_n = 0;
  name_fd = fd;
}

static int ifindex_of(const char *name, const char *op, struct crl_err *err) {
  unsigned idx;
  int i;
  for (i = 0; i < name_cache_n; i++)
    if (strcmp(name_cache[i].name, name) == 0) return name_cache[i].index;
  if (name_fd >= 0 && strlen(name) < IFNAMSIZ) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, strlen(name) + 1);
    if (ioctl(name_fd, SIOCGIFINDEX, &ifr) < 0)
      return crl_err_set(err, errno == ENODEV ? ENODEV : errno, op, "link %s", name);
    idx = (unsigned)ifr.ifr_ifindex;
  } else {
    idx = if_nametoindex(name);
  }
  if (idx == 0) return crl_err_set(err, errno == 0 ? ENODEV : errno, op, "link %s", name);
  if (name_cache_n < NAME_CACHE && strlen(name) < CRL_IFNAME_MAX) {
    snprintf(name_cache[name_cache_n].name, CRL_IFNAME_MAX, "%s", name);
    name_cache[name_cache_n++].index = (int)idx;
  }
  return (int)idx;
}

static int step_veth_add(struct crl_rtnl *sk, const struct crl_step *s, int nsfd,
                         struct crl_nlmsg *m, struct crl_err *err) {
  struct ifinfomsg ifi = {0}, peer = {0};
  size_t li, data, pinfo;
  ifi.ifi_family = AF_UNSPEC;
  crl_nlmsg_init(m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  crl_nlmsg_put_str(m, IFLA_IFNAME, s->link);
  if (s->has_mac) crl_nlmsg_put(m, IFLA_ADDRESS, s->mac, 6);
  if (s->mtu) crl_nlmsg_put_u32(m, IFLA_MTU, s->mtu);
  if (s->group >= 0) crl_nlmsg_put_u32(m, IFLA_GROUP, (uint32_t)s->group);
  li = crl_nlmsg_nest(m, IFLA_LINKINFO);
  crl_nlmsg_put_str(m, IFLA_INFO_KIND, "veth");
  data = crl_nlmsg_nest(m, IFLA_INFO_DATA);
  pinfo = crl_nlmsg_nest(m, VETH_INFO_PEER);
  /* The peer's attributes follow an ifinfomsg of its own inside VETH_INFO_PEER. */
  peer.ifi_family = AF_UNSPEC;
  if (m->len + NLMSG_ALIGN(sizeof peer) <= sizeof m->buf) {
    memcpy(m->buf + m->len, &peer, sizeof peer);
    m->len += NLMSG_ALIGN(sizeof peer);
  } else {
    m->overflow = 1;
  }
  crl_nlmsg_put_str(m, IFLA_IFNAME, s->peer);
  if (s->has_peer_mac) crl_nlmsg_put(m, IFLA_ADDRESS, s->peer_mac, 6);
  if (s->mtu) crl_nlmsg_put_u32(m, IFLA_MTU, s->mtu);
  if (s->peer_in_netns) crl_nlmsg_put_u32(m, IFLA_NET_NS_FD, (uint32_t)nsfd);
  crl_nlmsg_nest_end(m, pinfo);
  crl_nlmsg_nest_end(m, data);
  crl_nlmsg_nest_end(m, li);
  return crl_rtnl_talk(sk, m, "veth add", s->link, err);
}

static int step_link_set(struct crl_rtnl *sk, const struct crl_step *s, struct crl_nlmsg *m,
                         struct crl_err *err) {
  struct ifinfomsg ifi = {0};
  int idx = ifindex_of(s->link, "link set", err);
  if (idx < 0) return idx;
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = idx;
  if (s->up >= 0) {
    ifi.ifi_change = IFF_UP;
    ifi.ifi_flags = s->up ? IFF_UP : 0;
  }
  crl_nlmsg_init(m, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  if (s->has_mac) crl_nlmsg_put(m, IFLA_ADDRESS, s->mac, 6);
  if (s->mtu) crl_nlmsg_put_u32(m, IFLA_MTU, s->mtu);
  if (s->group >= 0) crl_nlmsg_put_u32(m, IFLA_GROUP, (uint32_t)s->group);
  if (s->alias[0]) crl_nlmsg_put_str(m, IFLA_IFALIAS, s->alias);
  return crl_rtnl_talk(sk, m, "link set", s->link, err);
}

static int step_link_del(struct crl_rtnl *sk, const struct crl_step *s, struct crl_nlmsg *m,
                         struct crl_err *err) {
  struct ifinfomsg ifi = {0};
  name_cache_clear();
  ifi.ifi_family = AF_UNSPEC;
  crl_nlmsg_init(m, RTM_DELLINK, 0, &ifi, sizeof ifi);
  crl_nlmsg_put_str(m, IFLA_IFNAME, s->link);
  return crl_rtnl_talk(sk, m, "link delete", s->link, err);
}

static int step_addr_add(struct crl_rtnl *sk, const struct crl_step *s, struct crl_nlmsg *m,
                         struct crl_err *err) {
  struct ifaddrmsg ifa = {0};
  int idx = ifindex_of(s->link, "address add", err);
  if (idx < 0) return idx;
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = s->prefix;
  ifa.ifa_index = (unsigned)idx;
  crl_nlmsg_init(m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
  crl_nlmsg_put(m, IFA_LOCAL, &s->addr, 4);
  crl_nlmsg_put(m, IFA_ADDRESS, &s->addr, 4);
  return crl_rtnl_talk(sk, m, "address add", s->link, err);
}

static int step_route_add(struct crl_rtnl *sk, const struct crl_step *s, struct crl_nlmsg *m,
                          struct crl_err *err) {
  struct rtmsg rt = {0};
  int idx = ifindex_of(s->link, "route add", err);
  if (idx < 0) return idx;
  rt.rtm_family = AF_INET;
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_protocol = RTPROT_BOOT;
  rt.rtm_scope = s->gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  rt.rtm_type = RTN_UNICAST;
  crl_nlmsg_init(m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof rt);
  if (s->gateway) crl_nlmsg_put(m, RTA_GATEWAY, &s->gateway, 4);
  crl_nlmsg_put_u32(m, RTA_OIF, (uint32_t)idx);
  return crl_rtnl_talk(sk, m, "route add", s->link, err);
}

static void tcmsg_init(struct crl_nlmsg *m, uint16_t type, uint16_t flags, int idx, uint32_t parent,
                       uint32_t handle, uint32_t info) {
  struct tcmsg t = {0};
  t.tcm_family = AF_UNSPEC;
  t.tcm_ifindex = idx;
  t.tcm_parent = parent;
  t.tcm_handle = handle;
  t.tcm_info = info;
  crl_nlmsg_init(m, type, flags, &t, sizeof t);
}

/* HTB times are in "ticks" of 64 ns (PSCHED_SHIFT). */
static uint32_t xmit_ticks(uint64_t rate, uint32_t bytes) {
  uint64_t ns = rate ? (uint64_t)bytes * 1000000000ull / rate : 0;
  uint64_t t = ns >> 6;
  return t > 0xffffffffu ? 0xffffffffu : (uint32_t)t;
}

static int step_qdisc(struct crl_rtnl *sk, const struct crl_step *s, struct crl_nlmsg *m,
                      struct crl_err *err) {
  int idx = ifindex_of(s->link, s->kind == CRL_STEP_QDISC_ADD ? "qdisc add" : "qdisc delete", err);
  if (idx < 0) return idx;
  if (s->kind == CRL_STEP_QDISC_DEL) {
    tcmsg_init(m, RTM_DELQDISC, 0, idx, s->parent, s->handle, 0);
    return crl_rtnl_talk(sk, m, "qdisc delete", s->link, err);
  }
  tcmsg_init(m, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, idx, s->parent, s->handle, 0);
  crl_nlmsg_put_str(m, TCA_KIND, s->qdisc_kind);
  if (strcmp(s->qdisc_kind, "htb") == 0) {
    struct tc_htb_glob g = {0};
    size_t o;
    g.version = 3;
    g.rate2quantum = 10;
    g.defcls = s->htb_default;
    o = crl_nlmsg_nest(m, TCA_OPTIONS);
    crl_nlmsg_put(m, TCA_HTB_INIT, &g, sizeof g);
    crl_nlmsg_nest_end(m, o);
  } else if (strcmp(s->qdisc_kind, "pfifo") == 0) {
    struct tc_fifo_qopt q = {s->limit};
    crl_nlmsg_put(m, TCA_OPTIONS, &q, sizeof q);
  } else if (strcmp(s->qdisc_kind, "ingress") == 0 || strcmp(s->qdisc_kind, "clsact") == 0) {
    crl_nlmsg_put(m, TCA_OPTIONS, NULL, 0);
  }
  return crl_rtnl_talk(sk, m, "qdisc add", s->link, err);
}

static int step_class_add(struct crl_rtnl *sk, const struct crl_step *s, struct crl_nlmsg *m,
                          struct crl_err *err) {
  struct tc_htb_opt o = {0};
  size_t opts;
  uint64_t rate = s->rate, ceil = s->ceil ? s->ceil : s->rate;
  int idx = ifindex_of(s->link, "class add", err);
  if (idx < 0) return idx;
  tcmsg_init(m, RTM_NEWTCLASS, NLM_F_CREATE | NLM_F_EXCL, idx, s->parent, s->handle, 0);
  crl_nlmsg_put_str(m, TCA_KIND, "htb");
  o.rate.rate = rate >= 0xffffffffull ? 0xffffffffu : (uint32_t)rate;
  o.rate.linklayer = TC_LINKLAYER_ETHERNET;
  o.ceil.rate = ceil >= 0xffffffffull ? 0xffffffffu : (uint32_t)ceil;
  o.ceil.linklayer = TC_LINKLAYER_ETHERNET;
  o.buffer = xmit_ticks(rate, s->burst);
  o.cbuffer = xmit_ticks(ceil, s->burst);
  opts = crl_nlmsg_nest(m, TCA_OPTIONS);
  crl_nlmsg_put(m, TCA_HTB_PARMS, &o, sizeof o);
  if (rate >= 0xffffffffull) crl_nlmsg_put(m, TCA_HTB_RATE64, &rate, 8);
  if (ceil >= 0xffffffffull) crl_nlmsg_put(m, TCA_HTB_CEIL64, &ceil, 8);
  crl_nlmsg_nest_end(m, opts);
  return crl_rtnl_talk(sk, m, "class add", s->link, err);
}

static int step_filter_add(struct crl_rtnl *sk, const struct crl_step *s, struct crl_nlmsg *m,
                           struct crl_err *err) {
  struct {
    struct tc_u32_sel sel;
    struct tc_u32_key keys[CRL_U32_KEYS_MAX];
  } sel;
  size_t opts, acts;
  int i, idx = ifindex_of(s->link, "filter add", err);
  if (idx < 0) return idx;
  tcmsg_init(m, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, idx, s->parent, s->handle,
             TC_H_MAKE((uint32_t)s->prio << 16, htons(s->protocol)));
  crl_nlmsg_put_str(m, TCA_KIND, "u32");
  opts = crl_nlmsg_nest(m, TCA_OPTIONS);
  memset(&sel, 0, sizeof sel);
  sel.sel.nkeys = (unsigned char)s->nkeys;
  if (s->terminal) sel.sel.flags |= TC_U32_TERMINAL;
  for (i = 0; i < s->nkeys; i++) {
    sel.keys[i].val = htonl(s->keys[i].val & s->keys[i].mask);
    sel.keys[i].mask = htonl(s->keys[i].mask);
    sel.keys[i].off = s->keys[i].off;
  }
  crl_nlmsg_put(m, TCA_U32_SEL, &sel, sizeof sel.sel + (size_t)s->nkeys * sizeof sel.keys[0]);
  if (s->classid) crl_nlmsg_put_u32(m, TCA_U32_CLASSID, s->classid);
  if (s->nactions > 0) {
    /* Targets first: with skip_missing, actions whose link is gone are left out (the last kept
       one takes the last one's control), and a filter left with no action is not added. */
    int targets[CRL_ACTIONS_MAX], kept = 0, last = -1, n = 0;
    for (i = 0; i < s->nactions; i++) {
      targets[i] = ifindex_of(s->actions[i].dev, "filter add", err);
      if (targets[i] < 0) {
        if (!s->skip_missing) return targets[i];
        crl_err_clear(err);
        continue;
      }
      kept++;
      last = i;
    }
    if (kept == 0) return 0;
    acts = crl_nlmsg_nest(m, TCA_U32_ACT);
    for (i = 0; i < s->nactions; i++) {
      const struct crl_tc_action *a = &s->actions[i];
      struct tc_mirred p = {0};
      size_t one, aopts;
      if (targets[i] < 0) continue;
      p.eaction = a->kind == CRL_ACT_REDIRECT ? TCA_EGRESS_REDIR : TCA_EGRESS_MIRROR;
      p.action = i == last ? s->actions[s->nactions - 1].control : a->control;
      p.ifindex = (uint32_t)targets[i];
      one = crl_nlmsg_nest(m, (uint16_t)(++n));
      crl_nlmsg_put_str(m, TCA_ACT_KIND, "mirred");
      aopts = crl_nlmsg_nest(m, TCA_ACT_OPTIONS);
      crl_nlmsg_put(m, TCA_MIRRED_PARMS, &p, sizeof p);
      crl_nlmsg_nest_end(m, aopts);
      crl_nlmsg_nest_end(m, one);
    }
    crl_nlmsg_nest_end(m, acts);
  }
  crl_nlmsg_nest_end(m, opts);
  return crl_rtnl_talk(sk, m, "filter add", s->link, err);
}

static int step_filters_del(struct crl_rtnl *sk, const struct crl_step *s, struct crl_nlmsg *m,
                            struct crl_err *err) {
  int idx = ifindex_of(s->link, "filter delete", err);
  if (idx < 0) return idx;
  tcmsg_init(m, RTM_DELTFILTER, 0, idx, s->parent, 0,
             TC_H_MAKE((uint32_t)s->prio << 16, htons(s->protocol)));
  crl_nlmsg_put_str(m, TCA_KIND, "u32");
  return crl_rtnl_talk(sk, m, "filter delete", s->link, err);
}

static int step_sysctl(const struct crl_step *s, struct crl_err *err) {
  char path[200];
  size_t len = strlen(s->value);
  int fd;
  ssize_t n;
  if (strstr(s->path, "..")) return crl_err_set(err, EINVAL, "sysctl", "%s", s->path);
  snprintf(path, sizeof path, "/proc/sys/%s", s->path);
  fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return crl_err_set(err, errno, "sysctl", "%s", path);
  n = write(fd, s->value, len);
  if (n < 0 || (size_t)n != len) {
    int e = n < 0 ? errno : EIO;
    close(fd);
    return crl_err_set(err, e, "sysctl", "%s = %s", path, s->value);
  }
  close(fd);
  return 0;
}

static int run_step(struct crl_rtnl *sk, const struct crl_step *s, int nsfd, struct crl_nlmsg *m,
                    struct crl_err *err) {
  int rc;
  switch (s->kind) {
    case CRL_STEP_VETH_ADD:
      rc = step_veth_add(sk, s, nsfd, m, err);
      break;
    case CRL_STEP_LINK_SET:
      rc = step_link_set(sk, s, m, err);
      break;
    case CRL_STEP_LINK_DEL:
      rc = step_link_del(sk, s, m, err);
      break;
    case CRL_STEP_ADDR_ADD:
      rc = step_addr_add(sk, s, m, err);
      break;
    case CRL_STEP_ROUTE_ADD:
      rc = step_route_add(sk, s, m, err);
      break;
    case CRL_STEP_QDISC_ADD:
    case CRL_STEP_QDISC_DEL:
      rc = step_qdisc(sk, s, m, err);
      break;
    case CRL_STEP_CLASS_ADD:
      rc = step_class_add(sk, s, m, err);
      break;
    case CRL_STEP_FILTER_ADD:
      rc = step_filter_add(sk, s, m, err);
      break;
    case CRL_STEP_FILTERS_DEL:
      rc = step_filters_del(sk, s, m, err);
      break;
    case CRL_STEP_SYSCTL:
      rc = step_sysctl(s, err);
      break;
    default:
      return crl_err_set(err, EINVAL, "net apply", "unknown step kind %d", s->kind);
  }
  if (rc < 0 && s->ignore_exists && err->errnum == EEXIST) rc = 0;
  if (rc < 0 && s->ignore_missing &&
      (err->errnum == ENOENT || err->errnum == ENODEV || err->errnum == EINVAL ||
       err->errnum == ESRCH))
    rc = 0;
  /* A sysctl a namespace does not have or may not set (a global one) counts as missing. */
  if (rc < 0 && s->ignore_missing && s->kind == CRL_STEP_SYSCTL &&
      (err->errnum == EACCES || err->errnum == EPERM || err->errnum == EROFS))
    rc = 0;
  if (rc == 0) crl_err_clear(err);
  return rc;
}

/* A run of consecutive steps, with the socket of the namespace they run in. */
struct run {
  const struct crl_step *steps;
  size_t from, to; /* [from, to) */
  int nsfd;
  size_t *failed;
  struct crl_nlmsg *m;
};

static int run_steps(void *arg, struct crl_err *err) {
  struct run *r = arg;
  struct crl_rtnl sk;
  size_t i;
  int rc;
  rc = crl_rtnl_open(&sk, err);
  if (rc < 0) {
    *r->failed = r->from;
    return rc;
  }
  name_cache_start(sk.fd);
  for (i = r->from; i < r->to; i++) {
    rc = run_step(&sk, &r->steps[i], r->nsfd, r->m, err);
    if (rc < 0) {
      *r->failed = i;
      break;
    }
  }
  name_cache_start(-1);
  crl_rtnl_close(&sk);
  return rc;
}

int crl_net_apply(int host_nsfd, int nsfd, const struct crl_step *steps, size_t n, size_t *failed,
                  struct crl_err *err) {
  struct crl_nlmsg *m = malloc(sizeof *m);
  size_t i = 0;
  int rc = 0;
  *failed = 0;
  if (!m) return crl_err_set(err, ENOMEM, "malloc", "netlink message");
  while (i < n) {
    struct run r;
    size_t j = i;
    while (j < n && steps[j].in_netns == steps[i].in_netns) j++;
    r.steps = steps;
    r.from = i;
    r.to = j;
    r.nsfd = nsfd;
    r.failed = failed;
    r.m = m;
    if (steps[i].in_netns) {
      if (nsfd < 0) {
        *failed = i;
        rc = crl_err_set(err, EINVAL, "net apply",
                         "step %zu runs in a namespace but none was given", i);
        break;
      }
      rc = crl_netns_run(nsfd, run_steps, &r, err);
    } else {
      rc = host_nsfd >= 0 ? crl_netns_run(host_nsfd, run_steps, &r, err) : run_steps(&r, err);
    }
    if (rc < 0) break;
    i = j;
  }
  free(m);
  return rc;
}

int crl_net_delete_group(uint32_t group, struct crl_err *err) {
  struct crl_rtnl sk;
  struct crl_nlmsg *m = malloc(sizeof *m);
  struct ifinfomsg ifi = {0};
  int rc;
  if (!m) return crl_err_set(err, ENOMEM, "malloc", "netlink message");
  rc = crl_rtnl_open(&sk, err);
  if (rc == 0) {
    ifi.ifi_family = AF_UNSPEC;
    crl_nlmsg_init(m, RTM_DELLINK, 0, &ifi, sizeof ifi);
    crl_nlmsg_put_u32(m, IFLA_GROUP, group);
    rc = crl_rtnl_talk(&sk, m, "link delete", "group", err);
    crl_rtnl_close(&sk);
  }
  free(m);
  return rc;
}

/* ---- dumps ---- */

struct vec {
  void *items;
  size_t n, cap, size;
};

static void *vec_push(struct vec *v) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    void *p = realloc(v->items, cap * v->size);
    if (!p) return NULL;
    v->items = p;
    v->cap = cap;
  }
  memset((char *)v->items + v->n * v->size, 0, v->size);
  return (char *)v->items + v->n++ * v->size;
}

static void link_attr(uint16_t type, const void *p, size_t n, void *ctx) {
  struct crl_link_info *l = ctx;
  switch (type) {
    case IFLA_IFNAME:
      snprintf(l->name, sizeof l->name, "%.*s", (int)n, (const char *)p);
      break;
    case IFLA_MTU:
      if (n >= 4) memcpy(&l->mtu, p, 4);
      break;
    case IFLA_GROUP:
      if (n >= 4) memcpy(&l->group, p, 4);
      break;
    case IFLA_IFALIAS:
      snprintf(l->alias, sizeof l->alias, "%.*s", (int)n, (const char *)p);
      break;
    case IFLA_ADDRESS:
      if (n == 6) memcpy(l->mac, p, 6);
      break;
    case IFLA_STATS64:
      if (n >= sizeof(struct rtnl_link_stats64)) {
        struct rtnl_link_stats64 st;
        memcpy(&st, p, sizeof st);
        l->rx_packets = st.rx_packets;
        l->rx_bytes = st.rx_bytes;
        l->rx_errors = st.rx_errors;
        l->rx_dropped = st.rx_dropped;
        l->tx_packets = st.tx_packets;
        l->tx_bytes = st.tx_bytes;
        l->tx_errors = st.tx_errors;
        l->tx_dropped = st.tx_dropped;
      }
      break;
    case IFLA_LINKINFO: {
      const struct rtattr *a = p;
      size_t left = n;
      for (; RTA_OK(a, left); a = RTA_NEXT(a, left))
        if ((a->rta_type & NLA_TYPE_MASK) == IFLA_INFO_KIND)
          snprintf(l->kind, sizeof l->kind, "%.*s", (int)RTA_PAYLOAD(a), (const char *)RTA_DATA(a));
      break;
    }
    default:
      break;
  }
}

/*
 * One dump, run in a namespace (nsfd >= 0, on a private thread) or in the caller's: a socket of
 * `protocol`, the request made by `build` (which may resolve link names: it runs in the
 * namespace), `on` for every reply. The results go to `v`, handed over on success.
 */
struct dump_job {
  int protocol;
  const char *op;
  int (*build)(struct crl_nlmsg *m, struct dump_job *job, struct crl_err *err);
  int (*on)(const void *nlh, void *ctx, struct crl_err *err);
  struct vec v;
  /* for build/on: */
  const char *link;
  uint32_t parent;
  int ifindex;
};

#define CRL_DUMP_ATTEMPTS 20

static int run_dump(void *arg, struct crl_err *err) {
  struct dump_job *j = arg;
  struct crl_rtnl sk;
  struct crl_nlmsg *m = malloc(sizeof *m);
  int rc;
  name_cache_start(-1);
  if (!m) return crl_err_set(err, ENOMEM, "malloc", "netlink message");
  rc = j->build(m, j, err);
  if (rc == 0) rc = crl_nl_open_proto(&sk, j->protocol, err);
  if (rc == 0) {
    /* A dump the kernel marks interrupted (links or filters changed meanwhile, e.g. another
     * container starting) is thrown away and asked again, a bounded number of times. */
    int attempt;
    for (attempt = 0; attempt < CRL_DUMP_ATTEMPTS; attempt++) {
      j->v.n = 0;
      crl_err_clear(err);
      rc = crl_rtnl_dump(&sk, m, j->on, j, j->op, err);
      if (!(rc < 0 && err->errnum == EINTR)) break;
    }
    crl_rtnl_close(&sk);
  }
  free(m);
  return rc;
}

static int dump_in(int nsfd, struct dump_job *j, void **out, size_t *count, struct crl_err *err) {
  int rc = nsfd >= 0 ? crl_netns_run(nsfd, run_dump, j, err) : run_dump(j, err);
  *out = NULL;
  *count = 0;
  if (rc < 0) {
    free(j->v.items);
    return rc;
  }
  *out = j->v.items;
  *count = j->v.n;
  return 0;
}

/* Resolve the job's link in the namespace the dump runs in, and start a tc request. */
static int build_tc(struct crl_nlmsg *m, struct dump_job *j, uint16_t type, struct crl_err *err) {
  int idx = ifindex_of(j->link, j->op, err);
  if (idx < 0) return idx;
  j->ifindex = idx;
  tcmsg_init(m, type, 0, idx, j->parent, 0, 0);
  return 0;
}

static int on_link(const void *msg, void *ctx, struct crl_err *err) {
  const struct nlmsghdr *nlh = msg;
  const struct ifinfomsg *ifi = NLMSG_DATA(nlh);
  struct crl_link_info *l;
  if (nlh->nlmsg_type != RTM_NEWLINK) return 0;
  l = vec_push(&((struct dump_job *)ctx)->v);
  if (!l) return crl_err_set(err, ENOMEM, "realloc", "link list");
  l->index = ifi->ifi_index;
  l->up = (ifi->ifi_flags & IFF_UP) != 0;
  l->loopback = (ifi->ifi_flags & IFF_LOOPBACK) != 0;
  crl_rta_walk(IFLA_RTA(ifi), IFLA_PAYLOAD(nlh), link_attr, l);
  return 0;
}

static int build_links(struct crl_nlmsg *m, struct dump_job *j, struct crl_err *err) {
  struct ifinfomsg ifi = {0};
  (void)j;
  (void)err;
  ifi.ifi_family = AF_UNSPEC;
  crl_nlmsg_init(m, RTM_GETLINK, 0, &ifi, sizeof ifi);
  return 0;
}

int crl_net_links(int nsfd, struct crl_link_info **out, size_t *count, struct crl_err *err) {
  struct dump_job j = {
      NETLINK_ROUTE, "link dump", build_links, on_link, {NULL, 0, 0, sizeof **out}, NULL, 0, 0};
  return dump_in(nsfd, &j, (void **)out, count, err);
}

static int on_filter(const void *msg, void *ctx, struct crl_err *err) {
  const struct nlmsghdr *nlh = msg;
  const struct tcmsg *t = NLMSG_DATA(nlh);
  struct crl_filter_id *f;
  if (nlh->nlmsg_type != RTM_NEWTFILTER) return 0;
  f = vec_push(&((struct dump_job *)ctx)->v);
  if (!f) return crl_err_set(err, ENOMEM, "realloc", "filter list");
  f->prio = (uint16_t)(TC_H_MAJ(t->tcm_info) >> 16);
  f->protocol = ntohs((uint16_t)TC_H_MIN(t->tcm_info));
  f->handle = t->tcm_handle;
  return 0;
}

static int build_filters(struct crl_nlmsg *m, struct dump_job *j, struct crl_err *err) {
  return build_tc(m, j, RTM_GETTFILTER, err);
}

int crl_net_filters(int nsfd, const char *link, uint32_t parent, struct crl_filter_id **out,
                    size_t *count, struct crl_err *err) {
  struct dump_job j = {NETLINK_ROUTE,
                       "filter dump",
                       build_filters,
                       on_filter,
                       {NULL, 0, 0, sizeof **out},
                       link,
                       parent,
                       0};
  return dump_in(nsfd, &j, (void **)out, count, err);
}

static void qdisc_attr(uint16_t type, const void *p, size_t n, void *ctx) {
  struct crl_qdisc_stats *q = ctx;
  if (type == TCA_KIND) {
    snprintf(q->kind, sizeof q->kind, "%.*s", (int)n, (const char *)p);
  } else if (type == TCA_STATS && n >= sizeof(struct tc_stats)) {
    struct tc_stats st;
    memcpy(&st, p, sizeof st);
    q->bytes = st.bytes;
    q->packets = st.packets;
    q->drops = st.drops;
    q->overlimits = st.overlimits;
    q->qlen = st.qlen;
    q->backlog = st.backlog;
  } else if (type == TCA_STATS2) {
    const struct rtattr *a = p;
    size_t left = n;
    for (; RTA_OK(a, left); a = RTA_NEXT(a, left))
      if ((a->rta_type & NLA_TYPE_MASK) == TCA_STATS_QUEUE &&
          RTA_PAYLOAD(a) >= sizeof(struct gnet_stats_queue)) {
        struct gnet_stats_queue sq;
        memcpy(&sq, RTA_DATA(a), sizeof sq);
        q->requeues = sq.requeues;
      }
  }
}

static int on_qdisc(const void *msg, void *ctx, struct crl_err *err) {
  const struct nlmsghdr *nlh = msg;
  const struct tcmsg *t = NLMSG_DATA(nlh);
  struct dump_job *j = ctx;
  struct crl_qdisc_stats *q;
  if (nlh->nlmsg_type != RTM_NEWQDISC || t->tcm_ifindex != j->ifindex) return 0;
  q = vec_push(&j->v);
  if (!q) return crl_err_set(err, ENOMEM, "realloc", "qdisc list");
  q->handle = t->tcm_handle;
  q->parent = t->tcm_parent;
  crl_rta_walk((const char *)t + NLMSG_ALIGN(sizeof *t), nlh->nlmsg_len - NLMSG_LENGTH(sizeof *t),
               qdisc_attr, q);
  return 0;
}

static int build_qdiscs(struct crl_nlmsg *m, struct dump_job *j, struct crl_err *err) {
  return build_tc(m, j, RTM_GETQDISC, err);
}

int crl_net_qdiscs(int nsfd, const char *link, struct crl_qdisc_stats **out, size_t *count,
                   struct crl_err *err) {
  struct dump_job j = {
      NETLINK_ROUTE, "qdisc dump", build_qdiscs, on_qdisc, {NULL, 0, 0, sizeof **out}, link, 0, 0};
  return dump_in(nsfd, &j, (void **)out, count, err);
}

/* ---- TCP round-trip times (sock_diag) ---- */

static int on_diag(const void *msg, void *ctx, struct crl_err *err) {
  const struct nlmsghdr *nlh = msg;
  const struct inet_diag_msg *d = NLMSG_DATA(nlh);
  const struct rtattr *a;
  size_t left;
  if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY) return 0;
  left = nlh->nlmsg_len - NLMSG_LENGTH(sizeof *d);
  for (a = (const struct rtattr *)(d + 1); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
    if ((a->rta_type & NLA_TYPE_MASK) == INET_DIAG_INFO &&
        RTA_PAYLOAD(a) >= offsetof(struct tcp_info, tcpi_rttvar)) {
      struct tcp_info ti;
      uint32_t *slot;
      memset(&ti, 0, sizeof ti);
      memcpy(&ti, RTA_DATA(a), RTA_PAYLOAD(a) < sizeof ti ? RTA_PAYLOAD(a) : sizeof ti);
      if (ti.tcpi_rtt == 0) continue;
      slot = vec_push(&((struct dump_job *)ctx)->v);
      if (!slot) return crl_err_set(err, ENOMEM, "realloc", "rtt list");
      *slot = ti.tcpi_rtt;
    }
  }
  return 0;
}

static int build_diag(struct crl_nlmsg *m, struct dump_job *j, struct crl_err *err) {
  struct inet_diag_req_v2 req;
  (void)j;
  (void)err;
  memset(&req, 0, sizeof req);
  req.sdiag_family = AF_INET;
  req.sdiag_protocol = IPPROTO_TCP;
  req.idiag_ext = 1 << (INET_DIAG_INFO - 1);
  req.idiag_states = 0xffffffffu;
  crl_nlmsg_init(m, SOCK_DIAG_BY_FAMILY, 0, &req, sizeof req);
  return 0;
}

int crl_net_tcp_rtts(int nsfd, uint32_t **out, size_t *count, struct crl_err *err) {
  struct dump_job j = {NETLINK_SOCK_DIAG,
                       "sock_diag dump",
                       build_diag,
                       on_diag,
                       {NULL, 0, 0, sizeof **out},
                       NULL,
                       0,
                       0};
  return dump_in(nsfd, &j, (void **)out, count, err);
}

/* ---- the sysctls of a fresh namespace ---- */

struct fresh_sysctls {
  const char *const *paths;
  size_t n;
  char (*values)[128];
};

static int read_fresh(void *arg, struct crl_err *err) {
  struct fresh_sysctls *f = arg;
  size_t i;
  (void)err;
  for (i = 0; i < f->n; i++) {
    char path[200];
    ssize_t got;
    int fd;
    f->values[i][0] = 0;
    if (strstr(f->paths[i], "..")) continue;
    snprintf(path, sizeof path, "/proc/sys/%s", f->paths[i]);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    got = read(fd, f->values[i], 127);
    close(fd);
    if (got < 0) got = 0;
    while (got > 0 && (f->values[i][got - 1] == '\n' || f->values[i][got - 1] == ' ')) got--;
    f->values[i][got] = 0;
  }
  return 0;
}

int crl_net_fresh_sysctls(const char *const *paths, size_t n, char (*values)[128],
                          struct crl_err *err) {
  struct fresh_sysctls f = {paths, n, values};
  return crl_netns_run(CRL_NETNS_NEW, read_fresh, &f, err);
}
