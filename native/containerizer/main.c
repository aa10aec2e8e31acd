/*
 * corral-containerizer: the per-container launcher and supervisor.
 *
 *   corral-containerizer --sandbox DIR --status-file FILE -- COMMAND [ARG...]
 *
 * Starts COMMAND (PATH is searched) in a new session with its working directory DIR, stdin
 * /dev/null, stdout and stderr appended to DIR/stdout and DIR/stderr; stays its parent, passes
 * on SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2, waits for it and records how it ended in
 * FILE, durably (temp file + fsync + rename), as one JSON line:
 *
 *   {"pid":N,"status":"exited","code":N}
 *   {"pid":N,"status":"signaled","signal":N}
 *   {"pid":N,"status":"failed","code":126|127,"error":"..."}   COMMAND could not be executed
 *
 * Exit code: COMMAND's exit code; 128+N if it was killed by signal N; 126/127 if it could not
 * be executed (as a shell); 125 if the supervisor itself failed before starting it (bad usage,
 * sandbox missing), in which case nothing is recorded. Own diagnostics go to this process's
 * stderr, never into the sandbox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "status.h"

#define EXIT_SUPERVISOR 125

static const char *prog = "corral-containerizer";
static volatile sig_atomic_t child_pid = 0;
static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])

static void usage(FILE *to) {
  fprintf(to, "usage: %s --sandbox DIR --status-file FILE -- COMMAND [ARG...]\n", prog);
}

static void die(const char *what, const char *detail, int e) {
  fprintf(stderr, "%s: %s%s%s: %s\n", prog, what, detail ? " " : "", detail ? detail : "",
          strerror(e));
  exit(EXIT_SUPERVISOR);
}

static void forward(int sig) {
  int saved = errno;
  if (child_pid > 0) kill((pid_t)child_pid, sig);
  errno = saved;
}

/* Value of "--name VALUE" or "--name=VALUE" at argv[*i]; NULL if argv[*i] is not --name. */
static const char *option(char **argv, int argc, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] != '\0') return NULL;
  if (*i + 1 >= argc) {
    fprintf(stderr, "%s: %s needs a value\n", prog, name);
    usage(stderr);
    exit(EXIT_SUPERVISOR);
  }
  return argv[++*i];
}

static int open_output(int dirfd, const char *name, const char *sandbox) {
  int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    char where[PATH_MAX];
    snprintf(where, sizeof where, "%s/%s", sandbox, name);
    die("open", where, errno);
  }
  return fd;
}

/* In the child, after fork: never returns. Reports an exec failure's errno on `report`. */
static void run_child(int sandbox_fd, int out_fd, int err_fd, int report, char **cmd,
                      const sigset_t *mask) {
  int null_fd, e;
  size_t k;
  struct sigaction dfl;

  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (k = 0; k < NFORWARDED; k++) sigaction(forwarded[k], &dfl, NULL);
  sigprocmask(SIG_SETMASK, mask, NULL);

  if (setsid() < 0) goto fail;
  if (fchdir(sandbox_fd) < 0) goto fail;
  null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) goto fail;
  if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
      dup2(err_fd, STDERR_FILENO) < 0)
    goto fail;
#ifdef SYS_close_range
  /* Nothing else we inherited goes to the command (best effort: needs Linux 5.11). */
  syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
#endif
  execvp(cmd[0], cmd);
fail:
  e = errno;
  while (write(report, &e, sizeof e) < 0 && errno == EINTR) {
  }
  _exit(e == ENOENT ? 127 : 126);
}

int main(int argc, char **argv) {
  const char *sandbox = NULL, *status_file = NULL, *v, *what = NULL;
  char **cmd = NULL;
  char line[1024];
  int i, sandbox_fd, out_fd, err_fd, pipefd[2], exec_errno = 0, wstatus, rc, code;
  ssize_t n;
  pid_t pid, w;
  sigset_t block, old;
  struct sigaction sa;
  size_t k;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      cmd = argv + i + 1;
      break;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else if ((v = option(argv, argc, &i, "--sandbox"))) {
      sandbox = v;
    } else if ((v = option(argv, argc, &i, "--status-file"))) {
      status_file = v;
    } else {
      fprintf(stderr, "%s: unknown argument '%s'\n", prog, argv[i]);
      usage(stderr);
      return EXIT_SUPERVISOR;
    }
  }
  if (!sandbox || !status_file || !cmd || !cmd[0]) {
    usage(stderr);
    return EXIT_SUPERVISOR;
  }

  sandbox_fd = open(sandbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (sandbox_fd < 0) die("open sandbox", sandbox, errno);
  out_fd = open_output(sandbox_fd, "stdout", sandbox);
  err_fd = open_output(sandbox_fd, "stderr", sandbox);
  if (pipe2(pipefd, O_CLOEXEC) < 0) die("pipe", NULL, errno);

  /* Block the forwarded signals until the handler knows the child's pid. */
  sigemptyset(&block);
  for (k = 0; k < NFORWARDED; k++) sigaddset(&block, forwarded[k]);
  sigprocmask(SIG_BLOCK, &block, &old);

  pid = fork();
  if (pid < 0) die("fork", NULL, errno);
  if (pid == 0) {
    close(pipefd[0]);
    run_child(sandbox_fd, out_fd, err_fd, pipefd[1], cmd, &old);
  }

  child_pid = pid;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (k = 0; k < NFORWARDED; k++) sigaction(forwarded[k], &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);

  close(pipefd[1]);
  close(sandbox_fd);
  close(out_fd);
  close(err_fd);

  /* EOF: exec succeeded (the pipe closed on exec). Otherwise the child sent its errno. */
  do n = read(pipefd[0], &exec_errno, sizeof exec_errno);
  while (n < 0 && errno == EINTR);
  close(pipefd[0]);
  if (n != (ssize_t)sizeof exec_errno) exec_errno = 0;

  do w = waitpid(pid, &wstatus, 0);
  while (w < 0 && errno == EINTR);
  if (w < 0) die("waitpid", NULL, errno);

  if (exec_errno != 0) {
    char msg[PATH_MAX + 128];
    code = exec_errno == ENOENT ? 127 : 126;
    snprintf(msg, sizeof msg, "exec %s: %s", cmd[0], strerror(exec_errno));
    fprintf(stderr, "%s: %s\n", prog, msg);
    ctr_status_failed(line, sizeof line, pid, code, msg);
  } else {
    ctr_status_ended(line, sizeof line, pid, wstatus);
    code = WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
  }

  rc = ctr_status_write(status_file, line, &what);
  if (rc < 0)
    fprintf(stderr, "%s: recording status in %s: %s: %s\n", prog, status_file, what, strerror(-rc));
  return code;
}
