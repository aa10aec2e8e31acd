#define _GNU_SOURCE
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void ctr_status_ended(char *buf, size_t size, pid_t pid, int wstatus) {
  if (WIFSIGNALED(wstatus))
    snprintf(buf, size, "{\"pid\":%ld,\"status\":\"signaled\",\"signal\":%d}", (long)pid,
             WTERMSIG(wstatus));
  else
    snprintf(buf, size, "{\"pid\":%ld,\"status\":\"exited\",\"code\":%d}", (long)pid,
             WEXITSTATUS(wstatus));
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

void ctr_status_failed(char *buf, size_t size, pid_t pid, int code, const char *error) {
  char esc[512];
  json_escape(esc, sizeof esc, error);
  snprintf(buf, size, "{\"pid\":%ld,\"status\":\"failed\",\"code\":%d,\"error\":\"%s\"}", (long)pid,
           code, esc);
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

int ctr_status_write(const char *path, const char *line, const char **what) {
  char tmp[PATH_MAX], dir[PATH_MAX], *slash;
  int fd, dfd, e;
  size_t len = strlen(line);

  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
    *what = "status file path";
    return -ENAMETOOLONG;
  }
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *what = "open";
    return -errno;
  }
  if (write_all(fd, line, len) < 0 || write_all(fd, "\n", 1) < 0) {
    *what = "write";
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
  if (rename(tmp, path) < 0) {
    *what = "rename";
    goto fail;
  }
  /* Make the rename itself durable. */
  snprintf(dir, sizeof dir, "%s", path);
  slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == dir) dir[1] = '\0';
  else *slash = '\0';
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    *what = "open directory";
    return -errno;
  }
  if (fsync(dfd) < 0) {
    e = errno;
    close(dfd);
    *what = "fsync directory";
    return -e;
  }
  close(dfd);
  return 0;

fail:
  e = errno;
  if (fd >= 0) close(fd);
  unlink(tmp);
  return -e;
}
