/*
 * corral-containerizer spawner: the resident process that starts supervisors for an agent
 * (docs/architecture.md §4). The agent starts one and keeps it; forking the agent's large
 * Node process for every container cost milliseconds of its event loop, while this process
 * is small and forks (vfork + exec through posix_spawn) in a few tens of microseconds.
 *
 *   corral-containerizer spawner
 *
 * It reads requests on stdin and writes replies on stdout, as frames:
 *   u32 length (little-endian, of what follows), u8 op, u32 id (the caller's), body.
 * Requests:
 *   'L' launch: u32 argc, u32 envc, then argc + envc NUL-terminated strings: the supervisor's
 *       argv (argv[0] is the executable's path, run as is) and its environment. It is started
 *       in a session of its own (setsid), signals at their defaults and none blocked, its
 *       stdin, stdout and stderr pipes to this process.
 *   'G' go: write "go\n" to that supervisor's stdin and close it (the --wait-go release).
 *   'A' abort: close its stdin (the supervisor kills the command and records "aborted").
 * Replies:
 *   'P' pid line: i32 supervisor pid, then the first line the supervisor printed (no "\n").
 *   'E' the supervisor's stdout ended (it has released the command, or it ended first).
 *   'X' the supervisor ended: i32 pid, i32 wait status, then the end of its stderr (4 KiB).
 *   'S' it could not be started: i32 errno, then a message. No other reply for that id.
 * For one id, 'P' comes before 'E' and 'E' before 'X'.
 * The agent starts short-lived helpers the same way (each health check's `corral-containerizer
 * probe`): for those it reads the first line ('P', at the line or at EOF) and the end ('X').
 *
 * The supervisors are this process's children until they end: it reaps them and reports how.
 * They do not depend on it: when it goes (EOF on its stdin: the agent is gone or stopping, or
 * it was killed), each supervisor still waiting for its release reads EOF and aborts its
 * launch; the others run on, and whoever watches their run directories sees them end.
 * Nothing is printed but fatal errors (on stderr); exit code 0 at EOF, 125 on a fatal error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawner.h"

#define ERR_KEPT 4096
#define LINE_MAX_KEPT 128
#define MAX_FRAME (64u << 20) /* a request larger than this is a broken caller */

/* One supervisor this process started. */
struct sup {
  uint32_t id;
  pid_t pid;                 /* 0: a free slot */
  int in_fd, out_fd, err_fd; /* our ends; -1 when closed */
  int line_sent, out_done, reaped;
  int wstatus;
  size_t line_len;
  char line[LINE_MAX_KEPT];
  size_t err_len;
  char *err; /* the last ERR_KEPT bytes of its stderr, allocated on its first write */
};

static const char *prog = "corral-containerizer spawner";
static struct sup *sups;
static size_t nsups, capsups;
static int epfd = -1;

/* epoll data: slot << 2 | kind. */
enum { K_STDIN = 0, K_SIGNAL = 1, K_OUT = 2, K_ERR = 3 };
#define TAG(slot, kind) (((uint64_t)(slot) << 2) | (uint64_t)(kind))

static void fatal(const char *what) __attribute__((noreturn));
static void fatal(const char *what) {
  fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
  exit(125);
}

static void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) exit(0); /* the caller is gone */
      fatal("write a reply");
    }
    p += w;
    len -= (size_t)w;
  }
}

static void put32(char *p, uint32_t v) {
  p[0] = (char)(v & 0xff);
  p[1] = (char)((v >> 8) & 0xff);
  p[2] = (char)((v >> 16) & 0xff);
  p[3] = (char)((v >> 24) & 0xff);
}

static uint32_t get32(const char *p) {
  const unsigned char *u = (const unsigned char *)p;
  return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* One reply: op, id, up to two i32s (nints of them), then `tail`. */
static void reply(char op, uint32_t id, int nints, int32_t a, int32_t b, const char *tail,
                  size_t tail_len) {
  char head[17];
  size_t n = 9 + (size_t)nints * 4;
  put32(head, (uint32_t)(n - 4 + tail_len));
  head[4] = op;
  put32(head + 5, id);
  if (nints > 0) put32(head + 9, (uint32_t)a);
  if (nints > 1) put32(head + 13, (uint32_t)b);
  if (tail_len == 0) {
    write_all(STDOUT_FILENO, head, n);
  } else {
    /* One write for the whole frame when it is small: the caller reads fewer pieces. */
    char buf[512];
    if (n + tail_len <= sizeof buf) {
      memcpy(buf, head, n);
      memcpy(buf + n, tail, tail_len);
      write_all(STDOUT_FILENO, buf, n + tail_len);
    } else {
      write_all(STDOUT_FILENO, head, n);
      write_all(STDOUT_FILENO, tail, tail_len);
    }
  }
}

static void close_fd(int *fd) {
  if (*fd >= 0) {
    close(*fd); /* also leaves the epoll set */
    *fd = -1;
  }
}

static struct sup *find(uint32_t id) {
  size_t i;
  for (i = 0; i < nsups; i++)
    if (sups[i].pid != 0 && sups[i].id == id) return &sups[i];
  return NULL;
}

static size_t free_slot(void) {
  size_t i;
  for (i = 0; i < nsups; i++)
    if (sups[i].pid == 0) return i;
  if (nsups == capsups) {
    size_t cap = capsups ? capsups * 2 : 64;
    struct sup *s = realloc(sups, cap * sizeof *s);
    if (!s) {
      errno = ENOMEM;
      fatal("grow the table of supervisors");
    }
    sups = s;
    capsups = cap;
  }
  return nsups++;
}

/* Report the pid line once it is complete (or what came before EOF). */
static void line_done(struct sup *s) {
  if (s->line_sent) return;
  s->line_sent = 1;
  reply('P', s->id, 1, s->pid, 0, s->line, s->line_len);
}

/* Read what the supervisor printed on stdout: its pid line, then nothing until it closes. */
static void read_out(struct sup *s) {
  char buf[256];
  for (;;) {
    ssize_t n = read(s->out_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      /* EOF (or an error: the same to us): it has released the command or ended. */
      if (s->line_len > 0) line_done(s);
      close_fd(&s->out_fd);
      s->out_done = 1;
      reply('E', s->id, 0, 0, 0, NULL, 0);
      return;
    }
    if (!s->line_sent) {
      char *nl = memchr(buf, '\n', (size_t)n);
      size_t take = nl ? (size_t)(nl - buf) : (size_t)n;
      if (take > sizeof s->line - s->line_len) take = sizeof s->line - s->line_len;
      memcpy(s->line + s->line_len, buf, take);
      s->line_len += take;
      if (nl || s->line_len == sizeof s->line) line_done(s);
    }
  }
}

static void read_err(struct sup *s) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(s->err_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      close_fd(&s->err_fd);
      return;
    }
    if (!s->err && !(s->err = malloc(ERR_KEPT))) continue; /* out of memory: not kept */
    if ((size_t)n >= ERR_KEPT) {
      memcpy(s->err, buf + n - ERR_KEPT, ERR_KEPT);
      s->err_len = ERR_KEPT;
    } else {
      if (s->err_len + (size_t)n > ERR_KEPT) {
        size_t drop = s->err_len + (size_t)n - ERR_KEPT;
        memmove(s->err, s->err + drop, s->err_len - drop);
        s->err_len -= drop;
      }
      memcpy(s->err + s->err_len, buf, (size_t)n);
      s->err_len += (size_t)n;
    }
  }
}

/* It was reaped: whatever it wrote is in the pipes already. Report its end and free the slot. */
static void ended(struct sup *s) {
  if (s->out_fd >= 0) {
    int fl = fcntl(s->out_fd, F_GETFL);
    fcntl(s->out_fd, F_SETFL, fl | O_NONBLOCK);
    read_out(s);
  }
  if (!s->out_done) { /* a process it left holds its stdout: the supervisor itself is gone */
    if (s->line_len > 0) line_done(s);
    close_fd(&s->out_fd);
    s->out_done = 1;
    reply('E', s->id, 0, 0, 0, NULL, 0);
  }
  if (s->err_fd >= 0) read_err(s);
  reply('X', s->id, 2, s->pid, s->wstatus, s->err, s->err_len);
  close_fd(&s->in_fd);
  close_fd(&s->out_fd);
  close_fd(&s->err_fd);
  free(s->err);
  memset(s, 0, sizeof *s);
  s->in_fd = s->out_fd = s->err_fd = -1;
}

static void reap(void) {
  for (;;) {
    int wstatus;
    size_t i;
    pid_t pid = waitpid(-1, &wstatus, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;
    for (i = 0; i < nsups; i++) {
      if (sups[i].pid == pid) {
        sups[i].wstatus = wstatus;
        sups[i].reaped = 1;
        ended(&sups[i]);
        break;
      }
    }
  }
}

static int watch(int fd, uint64_t tag) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* 'L': start a supervisor. `body` holds argc, envc and the strings. */
static void launch(uint32_t id, const char *body, size_t len) {
  uint32_t argc, envc, k;
  char **argv = NULL, **envp;
  const char *p, *end = body + len;
  int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, e = 0, sig;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, all;
  pid_t pid;
  size_t slot;
  struct sup *s;
  const char *what = NULL;

  if (len < 8) {
    reply('S', id, 1, EINVAL, 0, "malformed launch request", 24);
    return;
  }
  argc = get32(body);
  envc = get32(body + 4);
  if (argc == 0 || argc > len || envc > len) {
    reply('S', id, 1, EINVAL, 0, "malformed launch request", 24);
    return;
  }
  argv = calloc((size_t)argc + envc + 2, sizeof *argv);
  if (!argv) {
    reply('S', id, 1, ENOMEM, 0, "out of memory", 13);
    return;
  }
  envp = argv + argc + 1;
  p = body + 8;
  for (k = 0; k < argc + envc; k++) {
    const char *z = memchr(p, '\0', (size_t)(end - p));
    if (!z) {
      free(argv);
      reply('S', id, 1, EINVAL, 0, "malformed launch request", 24);
      return;
    }
    if (k < argc)
      argv[k] = (char *)p;
    else
      envp[k - argc] = (char *)p;
    p = z + 1;
  }

  if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) {
    e = errno;
    what = "pipe";
    goto fail;
  }
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_p[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out_p[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, err_p[1], STDERR_FILENO);
  posix_spawnattr_init(&attr);
  sigemptyset(&none);
  sigfillset(&all);
  for (sig = 1; sig < NSIG; sig++) /* ours ignored (SIGPIPE) or blocked must not reach it */
    if (sig == SIGKILL || sig == SIGSTOP) sigdelset(&all, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  e = posix_spawn(&pid, argv[0], &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (e != 0) {
    what = "start";
    goto fail;
  }
  close(in_p[0]);
  close(out_p[1]);
  close(err_p[1]);
  fcntl(out_p[0], F_SETFL, O_NONBLOCK);
  fcntl(err_p[0], F_SETFL, O_NONBLOCK);
  slot = free_slot();
  s = &sups[slot];
  memset(s, 0, sizeof *s);
  s->id = id;
  s->pid = pid;
  s->in_fd = in_p[1];
  s->out_fd = out_p[0];
  s->err_fd = err_p[0];
  if (watch(s->out_fd, TAG(slot, K_OUT)) < 0 || watch(s->err_fd, TAG(slot, K_ERR)) < 0)
    fatal("epoll_ctl");
  free(argv);
  return;

fail : {
  char msg[600];
  int n = snprintf(msg, sizeof msg, "%s %s: %s", what, argv[0], strerror(e));
  int k2;
  for (k2 = 0; k2 < 2; k2++) {
    if (in_p[k2] >= 0) close(in_p[k2]);
    if (out_p[k2] >= 0) close(out_p[k2]);
    if (err_p[k2] >= 0) close(err_p[k2]);
  }
  free(argv);
  reply('S', id, 1, e, 0, msg, n < 0 ? 0 : (size_t)n >= sizeof msg ? sizeof msg - 1 : (size_t)n);
}
}

static void request(char op, uint32_t id, const char *body, size_t len) {
  struct sup *s;
  if (op == 'L') {
    launch(id, body, len);
    return;
  }
  s = find(id);
  if (!s || s->in_fd < 0) return; /* ended meanwhile: its 'X' tells */
  if (op == 'G') {
    static const char go[] = "go\n";
    ssize_t w;
    do w = write(s->in_fd, go, sizeof go - 1);
    while (w < 0 && errno == EINTR);
    /* EPIPE: it has ended; its 'X' tells. */
  }
  close_fd(&s->in_fd);
}

int spawner_main(void) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  sigset_t set;
  struct sigaction ign;
  int sfd;

  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, NULL); /* a supervisor gone before its "go": EPIPE, not death */
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) fatal("signalfd");
  if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) fatal("epoll_create1");
  if (watch(STDIN_FILENO, TAG(0, K_STDIN)) < 0 || watch(sfd, TAG(0, K_SIGNAL)) < 0)
    fatal("epoll_ctl");

  for (;;) {
    struct epoll_event evs[64];
    int n = epoll_wait(epfd, evs, 64, -1), i;
    if (n < 0) {
      if (errno == EINTR) continue;
      fatal("epoll_wait");
    }
    for (i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      size_t slot = (size_t)(tag >> 2);
      switch ((int)(tag & 3)) {
        case K_STDIN: {
          ssize_t r;
          size_t off = 0;
          if (cap - len < 65536) {
            size_t ncap = cap ? cap * 2 : 131072;
            char *nb;
            while (ncap - len < 65536) ncap *= 2;
            if (!(nb = realloc(buf, ncap))) {
              errno = ENOMEM;
              fatal("read a request");
            }
            buf = nb;
            cap = ncap;
          }
          do r = read(STDIN_FILENO, buf + len, cap - len);
          while (r < 0 && errno == EINTR);
          if (r < 0 && errno == EAGAIN) break;
          if (r <= 0) exit(0); /* the agent is gone or stopping: supervisors run on, or abort */
          len += (size_t)r;
          while (len - off >= 9) {
            uint32_t flen = get32(buf + off);
            if (flen < 5 || flen > MAX_FRAME) {
              errno = EPROTO;
              fatal("a request frame of a bad length");
            }
            if (len - off - 4 < flen) break;
            request(buf[off + 4], get32(buf + off + 5), buf + off + 9, flen - 5);
            off += 4 + flen;
          }
          memmove(buf, buf + off, len - off);
          len -= off;
          break;
        }
        case K_SIGNAL: {
          struct signalfd_siginfo si;
          while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
          }
          reap();
          break;
        }
        case K_OUT:
          if (slot < nsups && sups[slot].pid != 0 && sups[slot].out_fd >= 0) read_out(&sups[slot]);
          break;
        case K_ERR:
          if (slot < nsups && sups[slot].pid != 0 && sups[slot].err_fd >= 0) read_err(&sups[slot]);
          break;
      }
    }
  }
}
