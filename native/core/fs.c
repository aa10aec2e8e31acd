#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <linux/openat2.h>

#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture */
#endif

/* openat2 can fail with EAGAIN when a rename races with a ".." lookup: try again that often. */
#define OPENAT2_TRIES 64

/* 1: openat2 works, 0: the kernel has none (ENOSYS), -1: not known yet. */
static int have_openat2 = -1;

static int openat2_beneath(int rootfd, const char *path, int oflags, unsigned long long resolve) {
  struct open_how how;
  int fd, i;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned long long)oflags;
  how.resolve = resolve;
  for (i = 0; i < OPENAT2_TRIES; i++) {
    fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) return fd;
  }
  return -1;
}

/* Without openat2: one component at a time, no symlink followed, no "..". -1 with errno set. */
static int open_walk(int rootfd, const char *path, int oflags) {
  char name[NAME_MAX + 1];
  const char *p = path, *next;
  int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3), fd, e;
  size_t n;
  if (cur < 0) return -1;
  for (;;) {
    while (*p == '/') p++;
    n = strcspn(p, "/");
    next = p + n;
    while (*next == '/') next++;
    if (n == 0 || (n == 1 && p[0] == '.')) { /* the end, or "." */
      if (*next) {
        p = next;
        continue;
      }
      fd = openat(cur, ".", oflags);
      e = errno;
      break;
    }
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      e = EXDEV;
      fd = -1;
      break;
    }
    if (n > NAME_MAX) {
      e = ENAMETOOLONG;
      fd = -1;
      break;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    if (!*next) { /* the last component */
      fd = openat(cur, name, oflags | O_NOFOLLOW);
      e = errno;
      break;
    }
    fd = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      struct stat st;
      e = errno;
      /* O_PATH|O_NOFOLLOW|O_DIRECTORY says ENOTDIR for a symlink: say what it is. */
      if (e == ENOTDIR && fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        e = ELOOP;
      break;
    }
    close(cur);
    cur = fd;
    p = next;
  }
  close(cur);
  errno = e;
  return fd;
}

int crl_open_beneath(const char *root, const char *path, int flags, struct crl_err *err) {
  int oflags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
               ((flags & CRL_BENEATH_DIRECTORY) ? O_DIRECTORY : 0);
  int rootfd, fd, e;

  if (!root || !root[0] || !path) return crl_err_set(err, EINVAL, "open", "empty path");
  if (path[0] == '/') return crl_err_set(err, EINVAL, "open", "%s: not relative to %s", path, root);
  if (!path[0]) path = ".";
  rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return crl_err_set(err, errno, "open", "%s", root);
  fd = -1;
  e = ENOSYS;
  if (have_openat2 != 0 && !(flags & CRL_BENEATH_WALK)) {
    fd = openat2_beneath(rootfd, path, oflags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
    e = errno;
    if (fd >= 0 || e != ENOSYS)
      have_openat2 = 1;
    else
      have_openat2 = 0;
  }
  if (fd < 0 && e == ENOSYS) {
    fd = open_walk(rootfd, path, oflags);
    e = errno;
  }
  close(rootfd);
  if (fd < 0) return crl_err_set(err, e, "open", "%s below %s", path, root);
  return fd;
}

int crl_link_beneath(const char *source, const char *root, const char *dir, const char *name,
                     struct crl_err *err) {
  int rootfd, dirfd, rc = 0;

  if (!source || !root || !dir || !name || !source[0] || !root[0] || !dir[0] || !name[0] ||
      strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
    return crl_err_set(err, EINVAL, "link", "bad path");
  rootfd = open(root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0) return crl_err_set(err, errno, "open", "%s", root);
  dirfd = openat2_beneath(
      rootfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC,
      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
  if (dirfd < 0) {
    rc = crl_err_set(err, errno, "openat2", "%s below %s", dir, root);
    close(rootfd);
    return rc;
  }
  if (linkat(AT_FDCWD, source, dirfd, name, 0) < 0)
    rc = crl_err_set(err, errno, "link", "%s to %s/%s/%s", source, root, dir, name);
  close(dirfd);
  close(rootfd);
  return rc;
}

int crl_make_whiteout(const char *path, struct crl_err *err) {
  if (!path || !path[0]) return crl_err_set(err, EINVAL, "mknod", "bad path");
  if (mknod(path, S_IFCHR | 0000, makedev(0, 0)) < 0)
    return crl_err_set(err, errno, "mknod", "%s", path);
  return 0;
}

int crl_get_xattr(const char *path, const char *name, char *buf, size_t size, int *present,
                  struct crl_err *err) {
  ssize_t n;
  *present = 0;
  if (!path || !path[0] || !name || !name[0] || !buf)
    return crl_err_set(err, EINVAL, "getxattr", "bad argument");
  n = lgetxattr(path, name, buf, size);
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP) return 0;
    return crl_err_set(err, errno, "getxattr", "%s on %s", name, path);
  }
  *present = 1;
  return (int)n;
}

int crl_set_xattr(const char *path, const char *name, const char *value, struct crl_err *err) {
  if (!path || !path[0] || !name || !name[0] || !value)
    return crl_err_set(err, EINVAL, "setxattr", "bad argument");
  if (lsetxattr(path, name, value, strlen(value), 0) < 0)
    return crl_err_set(err, errno, "setxattr", "%s on %s", name, path);
  return 0;
}
