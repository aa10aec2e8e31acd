#define _GNU_SOURCE
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

int crl_netns_check_name(const char *name, struct crl_err *err) {
  size_t len;
  if (!name) return crl_err_set(err, EINVAL, "netns", "missing name");
  len = strlen(name);
  if (len == 0 || len > CRL_NETNS_NAME_MAX || strchr(name, '/') || strcmp(name, ".") == 0 ||
      strcmp(name, "..") == 0)
    return crl_err_set(err, EINVAL, "netns", "invalid name '%.200s'", name);
  return 0;
}

static int netns_path(const char *name, char *buf, size_t size, struct crl_err *err) {
  int rc = crl_netns_check_name(name, err);
  if (rc < 0) return rc;
  if ((size_t)snprintf(buf, size, "%s/%s", CRL_NETNS_RUN_DIR, name) >= size)
    return crl_err_set(err, ENAMETOOLONG, "netns", "%.200s", name);
  return 0;
}

/* 1 if `path` is an nsfs mount, 0 if it is anything else, negative on failure. */
static int is_nsfs(const char *path, struct crl_err *err) {
  struct statfs sfs;
  if (statfs(path, &sfs) < 0) {
    if (errno == ENOENT) return 0;
    return crl_err_set(err, errno, "statfs", "%s", path);
  }
  return (unsigned long)sfs.f_type == (unsigned long)NSFS_MAGIC;
}

/*
 * Make CRL_NETNS_RUN_DIR exist and be a shared mount point, as iproute2 does, so that mounts
 * made on it propagate to mount namespaces created later (containers see the namespaces).
 */
static int prepare_run_dir(struct crl_err *err) {
  int made_mount = 0;
  if (mkdir(CRL_NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
    return crl_err_set(err, errno, "mkdir", "%s", CRL_NETNS_RUN_DIR);
  while (mount("", CRL_NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
    /* EINVAL: not a mount point yet. Bind it onto itself once, then make it shared. */
    if (errno != EINVAL || made_mount)
      return crl_err_set(err, errno, "mount", "make-shared %s", CRL_NETNS_RUN_DIR);
    if (mount(CRL_NETNS_RUN_DIR, CRL_NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
      return crl_err_set(err, errno, "mount", "bind %s on itself", CRL_NETNS_RUN_DIR);
    made_mount = 1;
  }
  return 0;
}

/* ---- private thread ---- */

struct run_ctx {
  int nsfd;
  int (*fn)(void *, struct crl_err *);
  void *arg;
  struct crl_err *err;
  int rc;
};

static void *run_thread(void *p) {
  struct run_ctx *ctx = p;
  if (ctx->nsfd == CRL_NETNS_NEW) {
    if (unshare(CLONE_NEWNET) < 0) {
      ctx->rc = crl_err_set(ctx->err, errno, "unshare", "CLONE_NEWNET");
      return NULL;
    }
  } else if (setns(ctx->nsfd, CLONE_NEWNET) < 0) {
    ctx->rc = crl_err_set(ctx->err, errno, "setns", "fd %d", ctx->nsfd);
    return NULL;
  }
  ctx->rc = ctx->fn(ctx->arg, ctx->err);
  return NULL;
}

int crl_netns_run(int nsfd, int (*fn)(void *arg, struct crl_err *err), void *arg,
                  struct crl_err *err) {
  struct run_ctx ctx = {nsfd, fn, arg, err, 0};
  pthread_attr_t attr;
  pthread_t tid;
  sigset_t all, old;
  int rc;

  rc = pthread_attr_init(&attr);
  if (rc != 0) return crl_err_set(err, rc, "pthread_attr_init", NULL);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  /* The thread inherits the creator's signal mask: block everything while creating it. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&tid, &attr, run_thread, &ctx);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) return crl_err_set(err, rc, "pthread_create", "namespace thread");
  rc = pthread_join(tid, NULL);
  if (rc != 0) return crl_err_set(err, rc, "pthread_join", "namespace thread");
  return ctx.rc;
}

/* ---- create / remove / get ---- */

/* Runs inside the new namespace: pin it by bind-mounting this thread's nsfs file on `path`. */
static int pin_current_netns(void *arg, struct crl_err *err) {
  const char *path = arg;
  char self[64];
  snprintf(self, sizeof self, "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
  if (mount(self, path, "none", MS_BIND, NULL) < 0)
    return crl_err_set(err, errno, "mount", "bind %s on %s", self, path);
  return 0;
}

int crl_netns_create(const char *name, struct crl_err *err) {
  char path[PATH_MAX];
  int fd, rc;

  rc = netns_path(name, path, sizeof path, err);
  if (rc < 0) return rc;
  rc = prepare_run_dir(err);
  if (rc < 0) return rc;

  fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    if (e != EEXIST) return crl_err_set(err, e, "open", "%s", path);
    rc = is_nsfs(path, err);
    if (rc < 0) return rc;
    if (rc == 1) return 0; /* already there */
    return crl_err_set(err, EEXIST, "netns", "%s exists and is not a network namespace", path);
  }
  close(fd);

  rc = crl_netns_run(CRL_NETNS_NEW, pin_current_netns, path, err);
  if (rc < 0) {
    unlink(path); /* leave nothing behind; errno of the real failure is already recorded */
    return rc;
  }
  return 1;
}

int crl_netns_remove(const char *name, struct crl_err *err) {
  char path[PATH_MAX];
  int rc, changed = 0, i;

  rc = netns_path(name, path, sizeof path, err);
  if (rc < 0) return rc;
  /* Lazy unmount, repeated in case mounts were stacked on the file. */
  for (i = 0; i < 16; i++) {
    if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
      changed = 1;
      continue;
    }
    if (errno == EINVAL || errno == ENOENT) break; /* not (or no longer) a mount point */
    return crl_err_set(err, errno, "umount", "%s", path);
  }
  if (unlink(path) < 0) {
    if (errno == ENOENT) return changed;
    return crl_err_set(err, errno, "unlink", "%s", path);
  }
  return 1;
}

int crl_netns_get(const char *name, struct crl_netns_info *info, struct crl_err *err) {
  char path[PATH_MAX];
  struct stat st;
  int rc;

  rc = netns_path(name, path, sizeof path, err);
  if (rc < 0) return rc;
  rc = is_nsfs(path, err);
  if (rc <= 0) return rc;
  if (stat(path, &st) < 0) {
    if (errno == ENOENT) return 0;
    return crl_err_set(err, errno, "stat", "%s", path);
  }
  if (info) {
    info->dev = (unsigned long long)st.st_dev;
    info->ino = (unsigned long long)st.st_ino;
  }
  return 1;
}

int crl_netns_open(const char *name, struct crl_err *err) {
  char path[PATH_MAX];
  struct statfs sfs;
  int fd, rc;

  rc = netns_path(name, path, sizeof path, err);
  if (rc < 0) return rc;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return crl_err_set(err, errno, "open", "%s", path);
  if (fstatfs(fd, &sfs) < 0) {
    rc = crl_err_set(err, errno, "fstatfs", "%s", path);
    close(fd);
    return rc;
  }
  if ((unsigned long)sfs.f_type != (unsigned long)NSFS_MAGIC) {
    close(fd);
    return crl_err_set(err, ENOENT, "netns", "%s is not a network namespace", path);
  }
  return fd;
}
