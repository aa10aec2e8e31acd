#define _GNU_SOURCE
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void ctr_record_pid(char *buf, size_t size, pid_t pid, unsigned long long start_time) {
  snprintf(buf, size, "{\"pid\":%ld,\"start_time\":%llu}", (long)pid, start_time);
}

void ctr_status_ended(char *buf, size_t size, pid_t pid, int wstatus) {
  if (WIFSIGNALED(wstatus))
    snprintf(buf, size, "{\"pid\":%ld,\"status\":\"signaled\",\"signal\":%d,\"wstatus\":%d}",
             (long)pid, WTERMSIG(wstatus), wstatus);
  else
    snprintf(buf, size, "{\"pid\":%ld,\"status\":\"exited\",\"code\":%d,\"wstatus\":%d}", (long)pid,
             WEXITSTATUS(wstatus), wstatus);
}

/* JSON string body of `s` (without quotes), truncated to fit. */
static void json_escape(char *out, size_t size, const char *s) {
  size_t n = 0;
  for (; *s && n + 7 < size; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c < 0x20) {
      n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
    } else {
      out[n++] = (char)c;
    }
  }
  out[n] = '\0';
}

void ctr_status_failed(char *buf, size_t size, pid_t pid, int code, const char *error,
                       int wstatus) {
  char esc[512];
  json_escape(esc, sizeof esc, error);
  snprintf(buf, size,
           "{\"pid\":%ld,\"status\":\"failed\",\"code\":%d,\"error\":\"%s\",\"wstatus\":%d}",
           (long)pid, code, esc, wstatus);
}

void ctr_status_aborted(char *buf, size_t size, pid_t pid) {
  snprintf(buf, size, "{\"pid\":%ld,\"status\":\"aborted\"}", (long)pid);
}

static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int ctr_write_atomic(int dirfd, const char *name, const char *line, int durable,
                     const char **what) {
  char tmp[256];
  int fd, e;
  size_t len = strlen(line);

  if ((size_t)snprintf(tmp, sizeof tmp, ".%s.tmp.%ld", name, (long)getpid()) >= sizeof tmp) {
    *what = "file name";
    return -ENAMETOOLONG;
  }
  fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *what = "open";
    return -errno;
  }
  if (write_all(fd, line, len) < 0 || write_all(fd, "\n", 1) < 0) {
    *what = "write";
    goto fail;
  }
  if (durable && fsync(fd) < 0) {
    *what = "fsync";
    goto fail;
  }
  if (close(fd) < 0) {
    fd = -1;
    *what = "close";
    goto fail;
  }
  fd = -1;
  if (renameat(dirfd, tmp, dirfd, name) < 0) {
    *what = "rename";
    goto fail;
  }
  /* Make the rename itself durable. */
  if (durable && fsync(dirfd) < 0) {
    *what = "fsync directory";
    return -errno;
  }
  return 0;

fail:
  e = errno;
  if (fd >= 0) close(fd);
  unlinkat(dirfd, tmp, 0);
  return -e;
}

static int temp_name(char *tmp, size_t size, const char *name) {
  return (size_t)snprintf(tmp, size, ".%s.tmp.%ld", name, (long)getpid()) >= size ? -ENAMETOOLONG
                                                                                  : 0;
}

int ctr_reserve(int dirfd, const char *name, size_t size, const char **what) {
  char tmp[256], block[512];
  int fd, e;
  size_t left = size;

  if ((e = temp_name(tmp, sizeof tmp, name)) < 0) {
    *what = "file name";
    return e;
  }
  fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *what = "open";
    return -errno;
  }
  /* Real bytes, synced: the blocks are allocated now (a delayed allocation could fail later). */
  memset(block, ' ', sizeof block);
  while (left > 0) {
    size_t n = left < sizeof block ? left : sizeof block;
    if (write_all(fd, block, n) < 0) {
      *what = "write";
      goto fail;
    }
    left -= n;
  }
  if (fsync(fd) < 0) {
    *what = "fsync";
    goto fail;
  }
  return fd;

fail:
  e = errno;
  close(fd);
  unlinkat(dirfd, tmp, 0);
  return -e;
}

int ctr_write_reserved(int dirfd, const char *name, int fd, const char *line, const char **what) {
  char tmp[256];
  size_t len = strlen(line), off = 0;
  int e;

  if ((e = temp_name(tmp, sizeof tmp, name)) < 0) {
    close(fd);
    *what = "file name";
    return e;
  }
  /* pwrite over the reserved bytes: no append, no new block. */
  while (off < len + 1) {
    ssize_t w =
        off < len ? pwrite(fd, line + off, len - off, (off_t)off) : pwrite(fd, "\n", 1, (off_t)len);
    if (w < 0) {
      if (errno == EINTR) continue;
      *what = "write";
      goto fail;
    }
    off += (size_t)w;
  }
  if (ftruncate(fd, (off_t)(len + 1)) < 0) {
    *what = "truncate";
    goto fail;
  }
  if (fsync(fd) < 0) {
    *what = "fsync";
    goto fail;
  }
  if (close(fd) < 0) {
    fd = -1;
    *what = "close";
    goto fail;
  }
  fd = -1;
  if (renameat(dirfd, tmp, dirfd, name) < 0) {
    *what = "rename";
    goto fail;
  }
  if (fsync(dirfd) < 0) {
    *what = "fsync directory";
    return -errno;
  }
  return 0;

fail:
  e = errno;
  if (fd >= 0) close(fd);
  unlinkat(dirfd, tmp, 0);
  return -e;
}

void ctr_unreserve(int dirfd, const char *name, int fd) {
  char tmp[256];
  close(fd);
  if (temp_name(tmp, sizeof tmp, name) == 0) unlinkat(dirfd, tmp, 0);
}

int ctr_start_time(pid_t pid, unsigned long long *out) {
  char path[64], buf[1024], *p, *end;
  int fd, field, e;
  ssize_t n;

  if (pid == 0)
    snprintf(path, sizeof path, "/proc/self/stat");
  else
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  do n = read(fd, buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  e = errno;
  close(fd);
  if (n < 0) return -e;
  buf[n] = '\0';
  /* "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields count from the last
   * ')'. */
  p = strrchr(buf, ')');
  if (!p) return -EINVAL;
  p++; /* the space before field 3 */
  for (field = 3; field < 22 && p; field++) p = strchr(p + 1, ' ');
  if (!p) return -EINVAL;
  errno = 0;
  *out = strtoull(p + 1, &end, 10);
  if (errno != 0 || end == p + 1) return -EINVAL;
  return 0;
}
