/*
 * Network links (built only with the network isolator option). For now: list them.
 */
#ifndef CRL_LINK_H
#define CRL_LINK_H

#include <stddef.h>
#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRL_IFNAME_MAX 16

struct crl_link_summary {
  int index;
  char name[CRL_IFNAME_MAX];
  int up;      /* IFF_UP */
  unsigned int mtu;
};

/*
 * List the links of the named network namespace (NULL: the caller's). On success *out is a
 * malloc'd array of *count entries (free it with free()) and 0 is returned; negative on failure
 * with nothing allocated.
 */
int crl_link_list(const char *netns_name, struct crl_link_summary **out, size_t *count,
                  struct crl_err *err);

#ifdef __cplusplus
}
#endif

#endif /* CRL_LINK_H */
