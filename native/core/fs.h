/*
 * Opening a file, or making a link, below a directory without ever leaving it, whatever the
 * directory holds (symlinks, "..", entries renamed or exchanged while the path is resolved): a
 * directory tree another user controls, such as a task's sandbox.
 */
#ifndef CRL_FS_H
#define CRL_FS_H

#include <stddef.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* crl_open_beneath flags */
#define CRL_BENEATH_DIRECTORY 0x1 /* O_DIRECTORY: only a directory */
#define CRL_BENEATH_WALK 0x2      /* the component walk even where openat2 exists (tests) */

/*
 * Open `path`, relative to the directory `root` ("" or "." is `root` itself), for reading,
 * non-blocking (a FIFO does not wait for a writer), close-on-exec, never leaving `root`:
 *   - with openat2 (Linux 5.6+), the kernel resolves the whole path at once below `root`
 *     (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): a symlink that stays below `root` is
 *     followed, one that leads out of it (absolute, or through "..") fails with EXDEV, and so
 *     does a ".." that would leave it, also when a directory on the way is renamed meanwhile;
 *   - without it (ENOSYS), one component at a time from `root`, following no symlink at all
 *     (ELOOP) and refusing any ".." component (EXDEV).
 * `root` itself is opened following symlinks: it is the caller's trusted path.
 * Returns the fd, or negative with `err` filled (EXDEV/ELOOP: the way leaves `root`).
 */
int crl_open_beneath(const char *root, const char *path, int flags, struct crl_err *err);

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

/*
 * An overlayfs whiteout at `path`: a character device 0/0, which hides the same name in the
 * layers below (an image layer's `.wh.<name>`). Needs CAP_MKNOD. Returns 0 or negative.
 */
int crl_make_whiteout(const char *path, struct crl_err *err);

/*
 * Set the extended attribute `name` of `path` (not following a symlink at its end) to the
 * string `value`, e.g. trusted.overlay.opaque=y on a layer's directory that hides everything
 * below it. Returns 0 or negative.
 */
int crl_set_xattr(const char *path, const char *name, const char *value, struct crl_err *err);

/*
 * The extended attribute `name` of `path` (a symlink at its end not followed) into `buf` of
 * `size` bytes: its length, 0 with *present = 0 when the attribute is not set, or negative.
 */
int crl_get_xattr(const char *path, const char *name, char *buf, size_t size, int *present,
                  struct crl_err *err);

#ifdef __cplusplus
}
#endif

#endif /* CRL_FS_H */
