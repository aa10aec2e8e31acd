#define _GNU_SOURCE
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int crl_cgroup_event_open(const char *dir, const char *file, const char *args, int fds[2],
                          struct crl_err *err) {
  int dfd = -1, cfd = -1, efd = -1, ctl = -1, rc;
  char line[128];
  int n;
  ssize_t w;

  fds[0] = fds[1] = -1;
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return crl_err_set(err, errno, "cgroup event", "open %s", dir);
  cfd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
  if (cfd < 0) {
    rc = crl_err_set(err, errno, "cgroup event", "open %s/%s", dir, file);
    goto fail;
  }
  ctl = openat(dfd, "cgroup.event_control", O_WRONLY | O_CLOEXEC);
  if (ctl < 0) {
    rc = crl_err_set(err, errno, "cgroup event", "open %s/cgroup.event_control", dir);
    goto fail;
  }
  efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    rc = crl_err_set(err, errno, "cgroup event", "eventfd");
    goto fail;
  }
  n = args ? snprintf(line, sizeof line, "%d %d %s", efd, cfd, args)
           : snprintf(line, sizeof line, "%d %d", efd, cfd);
  if (n < 0 || (size_t)n >= sizeof line) {
    rc = crl_err_set(err, EINVAL, "cgroup event", "arguments too long for %s/%s", dir, file);
    goto fail;
  }
  do w = write(ctl, line, (size_t)n);
  while (w < 0 && errno == EINTR);
  if (w < 0) {
    rc = crl_err_set(err, errno, "cgroup event", "register %s/%s", dir, file);
    goto fail;
  }
  close(ctl);
  close(dfd);
  fds[0] = efd;
  fds[1] = cfd;
  return 0;

fail:
  if (efd >= 0) close(efd);
  if (ctl >= 0) close(ctl);
  if (cfd >= 0) close(cfd);
  if (dfd >= 0) close(dfd);
  return rc;
}

int crl_eventfd_take(int efd, unsigned long long *count, struct crl_err *err) {
  uint64_t v = 0;
  ssize_t r;
  do r = read(efd, &v, sizeof v);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN) return 0;
    return crl_err_set(err, errno, "eventfd", "read");
  }
  if (r != (ssize_t)sizeof v) return crl_err_set(err, EIO, "eventfd", "short read");
  *count = (unsigned long long)v;
  return 1;
}
