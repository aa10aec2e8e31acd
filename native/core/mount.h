/*
 * Bind mounts and reading the mount table.
 */
#ifndef CRL_MOUNT_H
#define CRL_MOUNT_H

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRL_MOUNT_PATH_MAX 4096

/* crl_bind_mount flags */
#define CRL_BIND_READ_ONLY 0x1 /* remount the new bind read-only */
#define CRL_BIND_RECURSIVE 0x2 /* MS_REC: also bind the mounts below source */

/* crl_unmount flags */
#define CRL_UNMOUNT_DETACH 0x1 /* MNT_DETACH: lazy unmount */

struct crl_mount_info {
  int mount_id;
  int parent_id;
  unsigned int major, minor;
  int read_only;                         /* per-mount "ro" */
  char root[CRL_MOUNT_PATH_MAX];         /* the root of the mount within its filesystem */
  char mount_point[CRL_MOUNT_PATH_MAX];  /* relative to this process's root */
  char fs_type[64];
  char source[CRL_MOUNT_PATH_MAX];
  char options[1024];                    /* per-mount options */
  char super_options[1024];              /* per-superblock options */
};

/*
 * Bind-mount `source` on `target` (both must exist). With CRL_BIND_READ_ONLY the bind is then
 * remounted read-only, keeping the nosuid/nodev/noexec/atime flags it has; if that remount
 * fails, the bind is undone. Returns 0 or negative.
 */
int crl_bind_mount(const char *source, const char *target, int flags, struct crl_err *err);

/*
 * Unmount `target` (the topmost mount on it; symlinks are not followed). Returns 1 if something
 * was unmounted, 0 if `target` is not a mount point or does not exist, negative on failure.
 */
int crl_unmount(const char *target, int flags, struct crl_err *err);

/*
 * If `path` (symlinks followed) is the root of a mount, fill `info` and return 1; return 0 if
 * it is not a mount point or does not exist; negative on failure.
 */
int crl_mount_get(const char *path, struct crl_mount_info *info, struct crl_err *err);

#ifdef __cplusplus
}
#endif

#endif /* CRL_MOUNT_H */
