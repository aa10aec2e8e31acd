/*
 * corral-containerizer probe: one health check of a task, run inside its container
 * (lib/agent/containerizer/health_probes.ts). The agent's resident spawner starts it
 * (posix_spawn), so a check costs the agent's Node process no fork.
 *
 *   corral-containerizer probe [--timeout-ms N] [--cgroup FILE]... [--target PID [--net]
 *                              [--pid] [--mount]] [--cwd DIR] [--uid N --gid N [--groups
 * A,B]]
 *                              (-- COMMAND [ARG...] | --tcp HOST:PORT)
 *
 * 1. Joins each --cgroup FILE (a cgroup.procs of the task's cgroups): writes its own pid there,
 *    so that the check and everything it starts are in the container's cgroups.
 * 2. Enters the namespaces of PID it is asked for (net, pid, mount; mount last), then DIR.
 * 3. --tcp: connects to HOST:PORT (IPv4 or IPv6 literal), exit 0 when the connection is made.
 *    Otherwise forks (so that the pid namespace applies), the child starts a process group of
 *    its own, takes the user (groups, gid, uid) and execs COMMAND (PATH searched in the
 *    environment it was given); this process waits for it and exits with its status (128+N
 *    when killed by signal N), after killing whatever of its group is left.
 * 4. Past --timeout-ms (0: none) the check's group is killed and the exit is 124, with
 *    "timed out" on stderr.
 * Errors of its own: a message on stderr and exit 125; 127 when COMMAND cannot be executed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

#define EXIT_OWN 125
#define EXIT_TIMEOUT 124
#define MAX_CGROUPS 16
#define MAX_GROUPS 256

static const char *prog = "corral-containerizer probe";

static int fail(const char *what, const char *detail) {
  fprintf(stderr, "%s: %s%s%s: %s\n", prog, what, detail ? " " : "", detail ? detail : "",
          strerror(errno));
  return EXIT_OWN;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int tcp_connect(const char *spec, long timeout_ms) {
  char host[64];
  const char *colon = strrchr(spec, ':');
  struct sockaddr_storage ss;
  socklen_t sl;
  int fd, rc, err = 0;
  socklen_t el = sizeof err;
  struct pollfd pfd;
  size_t hl;
  long port;
  char *end;

  if (!colon || (hl = (size_t)(colon - spec)) == 0 || hl >= sizeof host) {
    errno = EINVAL;
    return fail("bad --tcp", spec);
  }
  memcpy(host, spec, hl);
  host[hl] = '\0';
  if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = '\0';
  }
  port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) {
    errno = EINVAL;
    return fail("bad --tcp port", spec);
  }
  memset(&ss, 0, sizeof ss);
  if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
    ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
    ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    sl = sizeof(struct sockaddr_in);
  } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
    ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
    ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    sl = sizeof(struct sockaddr_in6);
  } else {
    errno = EINVAL;
    return fail("bad --tcp address", spec);
  }
  fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail("socket", NULL);
  rc = connect(fd, (struct sockaddr *)&ss, sl);
  if (rc < 0 && errno != EINPROGRESS) {
    fprintf(stderr, "connect to %s: %s\n", spec, strerror(errno));
    return 1;
  }
  if (rc < 0) {
    pfd.fd = fd;
    pfd.events = POLLOUT;
    do rc = poll(&pfd, 1, timeout_ms > 0 ? (int)timeout_ms : -1);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) {
      fprintf(stderr, "timed out\n");
      return EXIT_TIMEOUT;
    }
    if (rc < 0) return fail("poll", NULL);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) return fail("getsockopt", NULL);
    if (err != 0) {
      fprintf(stderr, "connect to %s: %s\n", spec, strerror(err));
      return 1;
    }
  }
  close(fd);
  return 0;
}

int probe_main(int argc, char **argv) {
  long timeout_ms = 0;
  const char *cgroups[MAX_CGROUPS];
  int ncgroups = 0, want_net = 0, want_pid = 0, want_mnt = 0, i, fds[3] = {-1, -1, -1};
  pid_t target = 0, child;
  const char *cwd = NULL, *tcp = NULL, *groups_arg = NULL;
  long uid = -1, gid = -1;
  gid_t groups[MAX_GROUPS];
  int ngroups = 0;
  char **cmd = NULL;
  sigset_t chld, old;
  long long deadline;
  int wstatus;

  for (i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--") == 0) {
      cmd = argv + i + 1;
      break;
    } else if (strcmp(a, "--net") == 0) {
      want_net = 1;
    } else if (strcmp(a, "--pid") == 0) {
      want_pid = 1;
    } else if (strcmp(a, "--mount") == 0) {
      want_mnt = 1;
    } else if (!v) {
      errno = EINVAL;
      return fail("missing value of", a);
    } else if (strcmp(a, "--timeout-ms") == 0) {
      timeout_ms = strtol(v, NULL, 10);
      i++;
    } else if (strcmp(a, "--cgroup") == 0) {
      if (ncgroups == MAX_CGROUPS) {
        errno = E2BIG;
        return fail("too many", a);
      }
      cgroups[ncgroups++] = v;
      i++;
    } else if (strcmp(a, "--target") == 0) {
      target = (pid_t)strtol(v, NULL, 10);
      i++;
    } else if (strcmp(a, "--cwd") == 0) {
      cwd = v;
      i++;
    } else if (strcmp(a, "--uid") == 0) {
      uid = strtol(v, NULL, 10);
      i++;
    } else if (strcmp(a, "--gid") == 0) {
      gid = strtol(v, NULL, 10);
      i++;
    } else if (strcmp(a, "--groups") == 0) {
      groups_arg = v;
      i++;
    } else if (strcmp(a, "--tcp") == 0) {
      tcp = v;
      i++;
    } else {
      errno = EINVAL;
      return fail("unknown option", a);
    }
  }
  if ((!cmd || !cmd[0]) && !tcp) {
    errno = EINVAL;
    return fail("nothing to run: give -- COMMAND or --tcp", NULL);
  }
  if ((want_net || want_pid || want_mnt) && target <= 0) {
    errno = EINVAL;
    return fail("--net, --pid and --mount need", "--target");
  }
  if ((uid >= 0) != (gid >= 0)) {
    errno = EINVAL;
    return fail("--uid and --gid go together", NULL);
  }
  if (groups_arg && *groups_arg) {
    const char *p = groups_arg;
    while (*p) {
      char *end;
      long g = strtol(p, &end, 10);
      if (end == p || ngroups == MAX_GROUPS) {
        errno = EINVAL;
        return fail("bad --groups", groups_arg);
      }
      groups[ngroups++] = (gid_t)g;
      p = *end == ',' ? end + 1 : end;
      if (*end != ',' && *end != '\0') {
        errno = EINVAL;
        return fail("bad --groups", groups_arg);
      }
    }
  }

  /* Its stdin: nothing (the spawner's pipe stays open until the check ends). */
  {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      dup2(fd, STDIN_FILENO);
      close(fd);
    }
  }

  /* 1. The container's cgroups. */
  for (i = 0; i < ncgroups; i++) {
    char buf[24];
    int fd = open(cgroups[i], O_WRONLY | O_CLOEXEC),
        n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (fd < 0 || write(fd, buf, (size_t)n) != n) {
      int e = errno;
      if (fd >= 0) close(fd);
      errno = e;
      return fail("join the cgroup", cgroups[i]);
    }
    close(fd);
  }

  /* 2. Its namespaces: every fd opened first (the mount namespace changes what /proc is). */
  if (target > 0) {
    static const char *names[3] = {"net", "pid", "mnt"};
    static const int types[3] = {CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWNS};
    const int want[3] = {want_net, want_pid, want_mnt};
    char path[64];
    for (i = 0; i < 3; i++) {
      if (!want[i]) continue;
      snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)target, names[i]);
      if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) return fail("open", path);
    }
    for (i = 0; i < 3; i++) {
      if (fds[i] < 0) continue;
      if (setns(fds[i], types[i]) < 0) return fail("enter the namespace", names[i]);
      close(fds[i]);
    }
  }
  if (cwd && chdir(cwd) < 0) return fail("chdir", cwd);

  if (tcp) return tcp_connect(tcp, timeout_ms);

  /* 3. The command, in a process group of its own, as the user. */
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old);
  deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
  child = fork();
  if (child < 0) return fail("fork", NULL);
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    setpgid(0, 0);
    if (uid >= 0) {
      if (setgroups((size_t)ngroups, groups) < 0 || setgid((gid_t)gid) < 0 ||
          setuid((uid_t)uid) < 0) {
        fprintf(stderr, "%s: switch to uid %ld: %s\n", prog, uid, strerror(errno));
        _exit(EXIT_OWN);
      }
    }
    execvp(cmd[0], cmd);
    fprintf(stderr, "%s: execute %s: %s\n", prog, cmd[0], strerror(errno));
    _exit(127);
  }
  setpgid(child, child); /* also here: no race with a kill before the child's own call */

  for (;;) {
    pid_t w = waitpid(child, &wstatus, WNOHANG);
    if (w == child) break;
    if (w < 0 && errno != EINTR) return fail("waitpid", NULL);
    if (deadline) {
      long long left = deadline - now_ms();
      struct timespec ts;
      if (left <= 0) {
        kill(-child, SIGKILL);
        kill(child, SIGKILL);
        while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
        }
        fprintf(stderr, "timed out after %ld ms\n", timeout_ms);
        return EXIT_TIMEOUT;
      }
      ts.tv_sec = left / 1000;
      ts.tv_nsec = (left % 1000) * 1000000;
      sigtimedwait(&chld, NULL, &ts);
    } else {
      int sig;
      sigwait(&chld, &sig);
    }
  }
  kill(-child, SIGKILL); /* what the check left behind */
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  return 128 + WTERMSIG(wstatus);
}
