/*
 * Making a link inside a directory tree that another user controls (a task's sandbox), without
 * following anything that user could have put on the way.
 */
#ifndef CRL_FSAT_H
#define CRL_FSAT_H

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Hard-link `source` (a path the caller controls) as `root`/`dir`/`name`. `root` is opened
 * without following a symlink at its end; `dir` (relative, "." for root itself) is resolved
 * below it with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV), so a symlink, a ".." out of the tree or a mount point on the way fails
 * (ELOOP, EXDEV); `name` (one component) is never followed (linkat: EEXIST if it exists).
 * ENOSYS on kernels before 5.6. Returns 0 or negative.
 */
int crl_link_beneath(const char *source, const char *root, const char *dir, const char *name,
                     struct crl_err *err);

#ifdef __cplusplus
}
#endif

#endif /* CRL_FSAT_H */
