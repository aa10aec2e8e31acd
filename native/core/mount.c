#define _GNU_SOURCE
#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

#define MOUNTINFO "/proc/self/mountinfo"

int crl_bind_mount(const char *source, const char *target, int flags, struct crl_err *err) {
  unsigned long mflags = MS_BIND | ((flags & CRL_BIND_RECURSIVE) ? MS_REC : 0);
  struct statvfs sv;

  if (!source || !target || !source[0] || !target[0])
    return crl_err_set(err, EINVAL, "mount", "empty path");
  if (mount(source, target, NULL, mflags, NULL) < 0)
    return crl_err_set(err, errno, "mount", "bind %s on %s", source, target);
  if (!(flags & CRL_BIND_READ_ONLY)) return 0;

  /*
   * A bind ignores MS_RDONLY on creation: remount it. Keep the flags the mount already has,
   * or the kernel refuses to clear "locked" ones (EPERM in user namespaces).
   */
  if (statvfs(target, &sv) < 0) {
    int rc = crl_err_set(err, errno, "statvfs", "%s", target);
    umount2(target, MNT_DETACH);
    return rc;
  }
  mflags = MS_BIND | MS_REMOUNT | MS_RDONLY;
  if (sv.f_flag & ST_NOSUID) mflags |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) mflags |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) mflags |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) mflags |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) mflags |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) mflags |= MS_RELATIME;
  if (mount(NULL, target, NULL, mflags, NULL) < 0) {
    int rc = crl_err_set(err, errno, "mount", "remount %s read-only", target);
    umount2(target, MNT_DETACH);
    return rc;
  }
  return 0;
}

int crl_unmount(const char *target, int flags, struct crl_err *err) {
  int uflags = UMOUNT_NOFOLLOW | ((flags & CRL_UNMOUNT_DETACH) ? MNT_DETACH : 0);
  if (!target || !target[0]) return crl_err_set(err, EINVAL, "umount", "empty path");
  if (umount2(target, uflags) == 0) return 1;
  if (errno == EINVAL || errno == ENOENT) return 0; /* not a mount point / not there */
  return crl_err_set(err, errno, "umount", "%s", target);
}

/* Undo mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
static void unescape(char *s) {
  char *w = s;
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
        s[3] <= '7') {
      *w++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
      s += 3;
    } else {
      *w++ = *s;
    }
  }
  *w = '\0';
}

static void copy_field(char *dst, size_t size, const char *src) {
  snprintf(dst, size, "%s", src ? src : "");
  unescape(dst);
}

/*
 * Parse one mountinfo line (modified in place):
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 * Returns 0, or -1 if the line is malformed.
 */
static int parse_line(char *line, struct crl_mount_info *mi) {
  char *save = NULL, *tok, *fields[6], *opt;
  int i;
  for (i = 0; i < 6; i++) {
    fields[i] = strtok_r(i == 0 ? line : NULL, " \n", &save);
    if (!fields[i]) return -1;
  }
  /* optional fields up to the "-" separator */
  while ((tok = strtok_r(NULL, " \n", &save)) && strcmp(tok, "-") != 0) {
  }
  if (!tok) return -1;
  mi->mount_id = atoi(fields[0]);
  mi->parent_id = atoi(fields[1]);
  if (sscanf(fields[2], "%u:%u", &mi->major, &mi->minor) != 2) return -1;
  copy_field(mi->root, sizeof mi->root, fields[3]);
  copy_field(mi->mount_point, sizeof mi->mount_point, fields[4]);
  copy_field(mi->options, sizeof mi->options, fields[5]);
  copy_field(mi->fs_type, sizeof mi->fs_type, strtok_r(NULL, " \n", &save));
  copy_field(mi->source, sizeof mi->source, strtok_r(NULL, " \n", &save));
  copy_field(mi->super_options, sizeof mi->super_options, strtok_r(NULL, " \n", &save));
  mi->read_only = 0;
  {
    char opts[sizeof mi->options], *s2 = NULL;
    snprintf(opts, sizeof opts, "%s", mi->options);
    for (opt = strtok_r(opts, ",", &s2); opt; opt = strtok_r(NULL, ",", &s2))
      if (strcmp(opt, "ro") == 0) mi->read_only = 1;
  }
  return 0;
}

/*
 * Find the mount with id `mount_id` (when >= 0) or else the last mount whose mount point is
 * `mount_point`. Returns 1 found, 0 not found, negative on failure.
 */
static int find_mount(int mount_id, const char *mount_point, struct crl_mount_info *out,
                      struct crl_err *err) {
  FILE *f;
  char *line = NULL;
  size_t cap = 0;
  int found = 0;
  struct crl_mount_info *mi = malloc(sizeof *mi);

  if (!mi) return crl_err_set(err, ENOMEM, "malloc", "mount info");
  f = fopen(MOUNTINFO, "re");
  if (!f) {
    int rc = crl_err_set(err, errno, "open", MOUNTINFO);
    free(mi);
    return rc;
  }
  while (getline(&line, &cap, f) > 0) {
    if (parse_line(line, mi) < 0) continue;
    if (mount_id >= 0 ? mi->mount_id == mount_id : strcmp(mi->mount_point, mount_point) == 0) {
      if (out) *out = *mi;
      found = 1;
      if (mount_id >= 0) break;
    }
  }
  if (ferror(f) && !found) {
    int rc = crl_err_set(err, errno, "read", MOUNTINFO);
    free(line);
    fclose(f);
    free(mi);
    return rc;
  }
  free(line);
  fclose(f);
  free(mi);
  return found;
}

int crl_mount_get(const char *path, struct crl_mount_info *info, struct crl_err *err) {
  struct statx stx;
  char *real;
  int rc;

  if (!path || !path[0]) return crl_err_set(err, EINVAL, "mount", "empty path");
  if (statx(AT_FDCWD, path, AT_STATX_SYNC_AS_STAT, STATX_MNT_ID, &stx) < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return 0;
    if (errno != ENOSYS) return crl_err_set(err, errno, "statx", "%s", path);
  } else if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_mask & STATX_MNT_ID)) {
    if (!(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) return 0;
    rc = find_mount((int)stx.stx_mnt_id, NULL, info, err);
    if (rc != 0) return rc;
    /* the mount went away between statx and the read: fall through to the path search */
  }

  /* Old kernels: the last mount whose mount point is the resolved path. */
  real = realpath(path, NULL);
  if (!real) {
    if (errno == ENOENT || errno == ENOTDIR) return 0;
    return crl_err_set(err, errno, "realpath", "%s", path);
  }
  rc = find_mount(-1, real, info, err);
  free(real);
  return rc;
}
