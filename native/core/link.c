#define _GNU_SOURCE
#include "link.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>

#include <netlink/cache.h>
#include <netlink/route/link.h>

#include "nl.h"

int crl_link_list(const char *netns_name, struct crl_link_summary **out, size_t *count,
                  struct crl_err *err) {
  struct nl_sock *sk = NULL;
  struct nl_cache *cache = NULL;
  struct nl_object *obj;
  struct crl_link_summary *links;
  size_t n = 0, cap;
  int rc;

  *out = NULL;
  *count = 0;
  rc = crl_nl_open(netns_name, &sk, err);
  if (rc < 0) return rc;
  rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
  if (rc < 0) {
    rc = crl_nl_err(err, rc, "rtnl_link_alloc_cache", netns_name);
    crl_nl_close(sk);
    return rc;
  }
  cap = (size_t)nl_cache_nitems(cache);
  links = calloc(cap ? cap : 1, sizeof *links);
  if (!links) {
    nl_cache_free(cache);
    crl_nl_close(sk);
    return crl_err_set(err, ENOMEM, "calloc", "link list");
  }
  for (obj = nl_cache_get_first(cache); obj && n < cap; obj = nl_cache_get_next(obj)) {
    struct rtnl_link *link = (struct rtnl_link *)obj;
    const char *name = rtnl_link_get_name(link);
    links[n].index = rtnl_link_get_ifindex(link);
    snprintf(links[n].name, sizeof links[n].name, "%s", name ? name : "");
    links[n].up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
    links[n].mtu = rtnl_link_get_mtu(link);
    n++;
  }
  nl_cache_free(cache);
  crl_nl_close(sk);
  *out = links;
  *count = n;
  return 0;
}
