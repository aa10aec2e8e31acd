#define _GNU_SOURCE
#include "fsat.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int crl_link_beneath(const char *source, const char *root, const char *dir, const char *name,
                     struct crl_err *err) {
  struct open_how how;
  int rootfd, dirfd, rc = 0;

  if (!source || !root || !dir || !name || !source[0] || !root[0] || !dir[0] || !name[0] ||
      strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
    return crl_err_set(err, EINVAL, "link", "bad path");
  rootfd = open(root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0) return crl_err_set(err, errno, "open", "%s", root);
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  dirfd = (int)syscall(SYS_openat2, rootfd, dir, &how, sizeof how);
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
