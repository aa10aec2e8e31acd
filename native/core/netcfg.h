/*
 * Network configuration steps over rtnetlink (network isolator build only): links (veth pairs
 * with the peer made directly in another namespace, MAC, MTU, up, group), IPv4 addresses and
 * routes, qdiscs (ingress, htb, pfifo), HTB classes, u32 filters with mirred actions, sysctls,
 * and the dumps that read them back (links with statistics, filter priorities, qdisc stats).
 *
 * A whole configuration is a list of steps applied in order by crl_net_apply; steps marked
 * `in_netns` run inside the target namespace (on a private thread), the others in the caller's.
 * The first failing step stops the list; the error names it.
 */
#ifndef CRL_NETCFG_H
#define CRL_NETCFG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRL_IFNAME_MAX 16
#define CRL_U32_KEYS_MAX 8
#define CRL_ACTIONS_MAX 32

enum crl_step_kind {
  CRL_STEP_VETH_ADD =
      1, /* link = host end, peer = other end (in the target namespace if peer_in_netns) */
  CRL_STEP_LINK_SET,  /* mac / mtu / up / group of `link` */
  CRL_STEP_LINK_DEL,  /* delete `link` */
  CRL_STEP_ADDR_ADD,  /* IPv4 addr/prefix on `link` */
  CRL_STEP_ROUTE_ADD, /* default route via gateway (0: on-link) over `link` */
  CRL_STEP_QDISC_ADD, /* qdisc kind on `link` at parent with handle */
  CRL_STEP_QDISC_DEL,
  CRL_STEP_CLASS_ADD,   /* an HTB class */
  CRL_STEP_FILTER_ADD,  /* a u32 filter */
  CRL_STEP_FILTERS_DEL, /* every filter of (prio, protocol) under parent */
  CRL_STEP_SYSCTL       /* write value to /proc/sys/<path> */
};

enum crl_action_kind { CRL_ACT_REDIRECT = 1, CRL_ACT_MIRROR = 2 };

struct crl_u32_key {
  uint32_t val;  /* host order; encoded big-endian */
  uint32_t mask; /* host order */
  int32_t off;
};

struct crl_tc_action {
  int kind;                 /* crl_action_kind */
  char dev[CRL_IFNAME_MAX]; /* target link (in the namespace the step runs in) */
  int control;              /* TC_ACT_* after the action: STOLEN, PIPE, UNSPEC (continue) */
};

struct crl_step {
  int kind;
  int in_netns;       /* run inside the target namespace */
  int ignore_exists;  /* EEXIST counts as done */
  int ignore_missing; /* ENOENT / ENODEV / EINVAL on delete counts as done */
  char link[CRL_IFNAME_MAX];
  /* links */
  char peer[CRL_IFNAME_MAX];
  int peer_in_netns;
  int has_mac, has_peer_mac;
  unsigned char mac[6], peer_mac[6];
  uint32_t mtu;    /* 0: unchanged */
  int up;          /* -1 unchanged */
  int64_t group;   /* -1 unchanged */
  char alias[128]; /* "" unchanged */
  /* addresses and routes (network order) */
  uint32_t addr, gateway;
  uint8_t prefix;
  /* tc */
  char qdisc_kind[CRL_IFNAME_MAX]; /* ingress | htb | pfifo */
  uint32_t parent, handle;
  uint16_t prio, protocol; /* protocol: ETH_P_* host order */
  uint32_t htb_default;
  uint64_t rate, ceil; /* bytes/s */
  uint32_t burst;      /* bytes */
  uint32_t limit;      /* pfifo packets */
  int nkeys;
  struct crl_u32_key keys[CRL_U32_KEYS_MAX];
  int terminal;
  uint32_t classid;
  int nactions;
  struct crl_tc_action actions[CRL_ACTIONS_MAX];
  int skip_missing; /* leave out actions whose target link is gone */
  /* sysctl */
  char path[160];
  char value[64];
};

/*
 * Apply `steps` in order. `nsfd` is the target namespace (an fd of /proc/PID/ns/net), or -1 if no
 * step runs in one; the other steps run in `host_nsfd`, or in the caller's namespace if -1.
 * On failure returns negative; *failed is the index of the failing step.
 */
int crl_net_apply(int host_nsfd, int nsfd, const struct crl_step *steps, size_t n, size_t *failed,
                  struct crl_err *err);

/* Delete every link of `group` in the caller's namespace in one request (one RCU wait). */
int crl_net_delete_group(uint32_t group, struct crl_err *err);

struct crl_link_info {
  int index;
  char name[CRL_IFNAME_MAX];
  char kind[CRL_IFNAME_MAX]; /* "veth", "bridge", ... or "" */
  int up, loopback;
  unsigned int mtu;
  uint32_t group;
  char alias[128];
  unsigned char mac[6];
  uint64_t rx_packets, rx_bytes, rx_errors, rx_dropped;
  uint64_t tx_packets, tx_bytes, tx_errors, tx_dropped;
};

/* The links of the caller's namespace (nsfd -1) or of `nsfd`; *out malloc'd (free()). */
int crl_net_links(int nsfd, struct crl_link_info **out, size_t *count, struct crl_err *err);

struct crl_filter_id {
  uint16_t prio, protocol;
  uint32_t handle;
};

/* The filters under `parent` on `link` (caller's namespace, or nsfd's): *out malloc'd (free()). */
int crl_net_filters(int nsfd, const char *link, uint32_t parent, struct crl_filter_id **out,
                    size_t *count, struct crl_err *err);

struct crl_qdisc_stats {
  char kind[CRL_IFNAME_MAX];
  uint32_t handle, parent;
  uint64_t bytes;
  uint32_t packets, drops, overlimits, qlen, backlog, requeues;
};

/* The qdiscs of `link` in the caller's namespace (nsfd -1) or in `nsfd`, with statistics. */
int crl_net_qdiscs(int nsfd, const char *link, struct crl_qdisc_stats **out, size_t *count,
                   struct crl_err *err);

/*
 * Read /proc/sys/<paths[i]> inside a brand-new network namespace (the values a namespace starts
 * with); values[i] gets the text (trimmed) or "" when the file is missing. Each value is at
 * most 127 bytes.
 */
int crl_net_fresh_sysctls(const char *const *paths, size_t n, char (*values)[128],
                          struct crl_err *err);

/*
 * Round-trip times (tcp_info.tcpi_rtt, microseconds, non-zero only) of the IPv4 TCP sockets of
 * the namespace `nsfd` (-1: the caller's), through sock_diag. *out malloc'd (free()).
 */
int crl_net_tcp_rtts(int nsfd, uint32_t **out, size_t *count, struct crl_err *err);

#ifdef __cplusplus
}
#endif

#endif /* CRL_NETCFG_H */
