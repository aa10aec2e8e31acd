/*
 * corral-containerizer: the per-container launcher and supervisor (docs/architecture.md §1;
 * the counterpart of Mesos's posix launcher). One small process per container: it starts the
 * command, stays its parent, records how it ended, and outlives the agent that started it.
 *
 *   corral-containerizer launch --sandbox DIR --run-dir DIR [--user NAME] [--wait-go]
 *                               [--namespaces pid,mount,net] [--netns PATH] [--bind
 * SRC:DST[:ro|:rw]]...
 *                               -- COMMAND [ARG...]
 *   corral-containerizer spawner   (the agent's resident starter of supervisors: spawner.c)
 *   corral-containerizer probe ... (one health check inside a task's container: probe.c)
 *
 * 1. Records its own pid and start time (/proc/self/stat field 22, clock ticks since boot) in
 *    RUN_DIR/pids/forked.pid as {"pid":N,"start_time":T} (temp file + rename). The start time
 *    lets a reader tell this process from a later one that reuses its pid.
 * 2. Forks the command's process. It starts a new session (setsid: its session and process
 *    group id are its pid), takes SANDBOX as its working directory, stdin /dev/null, stdout and
 *    stderr appended to SANDBOX/stdout and SANDBOX/stderr (never through a symlink: O_NOFOLLOW;
 *    each must be a regular file with no other link), and blocks on a sync pipe. With --user,
 * SANDBOX and those two files are given to the user first. With --namespaces the child is cloned
 * into new namespaces (as Mesos's Linux launcher does; needs root), 8 MiB private stack, SIGCHLD:
 *      mount: a mount namespace of its own; "/" is made a recursive slave, so mounts of the host
 *             still show inside and nothing mounted inside leaks out;
 *      pid:   a pid namespace (implies mount): the command is pid 1 of it and gets a /proc of
 *             its own; when it ends the kernel kills everything left in the namespace. As pid 1
 *             it receives from outside only SIGKILL and the signals it has a handler for, so a
 *             SIGTERM to a command without a handler is lost and a kill ends at the forced step.
 *      net:   a network namespace of its own (only lo, down); the caller configures it through
 *             /proc/<child pid>/ns/net before the release.
 *    --netns PATH: the child joins the network namespace of PATH (e.g. /run/netns/NAME, made and
 *             configured beforehand) instead.
 *    The pid line gives the child's pid as the supervisor (the caller's namespace) sees it.
 *    --bind SRC:DST (repeatable; implies mount): in its mount namespace the child bind-mounts
 *    (recursively) the directory SRC onto SANDBOX/DST, read-only with ":ro" (default ":rw").
 *    SRC is an absolute path up to the first ':'; DST is relative to the sandbox, without "."
 *    or ".." components. The directories of DST are made when missing (given to --user) and
 *    opened one component at a time below the sandbox without following symlinks, so nothing
 *    in the sandbox can lead the mount out of it. The mounts exist only in the container's
 *    namespace: the host never sees them, and they go with the container's last process.
 *    With --user, each SRC is given to the user first (recursively, through directory fds, so
 *    no symlink is followed, not even one swapped in during the walk), unless its top already
 *    belongs to the user and the user's group.
 * 3. Writes "pid <child pid>\n" on stdout. With --wait-go it then reads stdin: the line "go"
 *    releases the child (the agent has isolated the pid meanwhile); EOF or any other line aborts:
 *    the child is killed and {"pid":N,"status":"aborted"} recorded. Without --wait-go the child
 *    is released at once.
 * 4. Released, the child switches to --user (initgroups, setgid, setuid; --user needs root) and
 *    execs COMMAND (PATH searched) with the supervisor's own environment.
 * 5. The supervisor puts /dev/null on its stdin and stdout, so it does not depend on the agent
 *    (stderr stays: fatal errors go there), and waits. Signals: SIGTERM, SIGINT, SIGHUP,
 *    SIGQUIT and SIGUSR1 go on to the child's process group; SIGUSR2 means "force": SIGKILL to
 *    the group and to every child of the supervisor. It is a child subreaper, so the orphans of
 *    the container (also those that left the session) become its children: nothing the
 *    command started gets away by losing its parent. The supervisor survives all these signals.
 * 6. When the child has ended, what is left of the container is SIGKILLed (its process group,
 *    then the orphans, round after round, waiting at most 5 s) and reaped, as the posix
 *    launcher's destroy does, and RUN_DIR/exit.status is written durably (temp + fsync +
 *    rename + fsync of the directory). The temp file is made at the start, before the pid
 *    record, with its space written and synced, so the record can be written into it on a disk
 *    the command has filled (no space at the start: exit 125, the reason on stderr):
 *      {"pid":N,"status":"exited","code":N,"wstatus":N}
 *      {"pid":N,"status":"signaled","signal":N,"wstatus":N}
 *      {"pid":N,"status":"failed","code":126|127,"error":"...","wstatus":N}  could not start it
 *      {"pid":N,"status":"aborted"}
 *
 * Exit code: the command's exit code; 128+N if it was killed by signal N; 126/127 if it could
 * not be started (127: not found); 125 if the supervisor failed (bad usage, sandbox missing:
 * nothing recorded, the reason on stderr) or the launch was aborted.
 * Nothing is printed but the pid line and fatal errors.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"
#include "spawner.h"
#include "status.h"

#define EXIT_SUPERVISOR 125

static const char *prog = "corral-containerizer";

/* Signals the supervisor takes through a signalfd (blocked from the start). */
static const int handled[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD};
#define NHANDLED (sizeof handled / sizeof handled[0])

/* A --bind: SRC onto SANDBOX/DST. */
struct bind {
  char *src; /* absolute */
  char *dst; /* relative to the sandbox, no "." or ".." */
  int read_only;
};

struct options {
  const char *sandbox;
  const char *run_dir;
  const char *user;
  int wait_go;
  int ns_flags;      /* CLONE_NEW* for the child; 0: a plain fork */
  const char *netns; /* a network namespace to join (a file of nsfs), or NULL */
  struct bind *binds;
  int nbinds;
  const char *rootfs; /* --rootfs SCRATCH: links/0..N-1 (base first), upper/, work/, merged/;
                         or rootfs/ (the copy backend) and merged/ */
  const char *sandbox_target; /* --sandbox-target: where the sandbox shows inside the image */
  const char *workdir;        /* --workdir: the working directory inside the image */
  char **cmd;
};

/* The child's steps that can fail; the failed one and errno go to the supervisor on a pipe. */
enum step {
  STEP_SETSID = 1,
  STEP_SETNS,
  STEP_CHDIR,
  STEP_STDIO,
  STEP_MOUNT_SLAVE,
  STEP_MOUNT_PROC,
  STEP_REOPEN_SANDBOX,
  STEP_BIND_SOURCE,
  STEP_BIND_TARGET,
  STEP_BIND_MOUNT,
  STEP_BIND_READ_ONLY,
  STEP_ROOTFS_OVERLAY,
  STEP_ROOTFS_PROC,
  STEP_ROOTFS_SYS,
  STEP_ROOTFS_DEV,
  STEP_ROOTFS_SANDBOX,
  STEP_ROOTFS_PIVOT,
  STEP_ROOTFS_WORKDIR,
  STEP_INITGROUPS,
  STEP_SETGID,
  STEP_SETUID,
  STEP_EXEC
};
static const char *const step_names[] = {"",
                                         "setsid",
                                         "join the network namespace",
                                         "chdir to the sandbox",
                                         "stdio",
                                         "make / a recursive slave mount",
                                         "mount /proc",
                                         "open the sandbox in the new mount namespace",
                                         "open the source",
                                         "make or open the target in the sandbox",
                                         "mount",
                                         "remount read-only",
                                         "mount the image's root filesystem (overlay)",
                                         "mount /proc in the image",
                                         "mount /sys in the image",
                                         "make /dev in the image",
                                         "bind the sandbox into the image",
                                         "pivot_root into the image",
                                         "make or enter the working directory in the image",
                                         "initgroups",
                                         "setgid",
                                         "setuid",
                                         "exec"};

struct report {
  int step;
  int err;
  int bind; /* index into the binds for the STEP_BIND_* steps */
};

struct child_setup {
  const char *sandbox;
  int sandbox_fd, out_fd, err_fd, sync_fd, report_fd;
  int parent_fds[2]; /* the supervisor's ends of the pipes: closed in the child */
  int ns_flags;
  int netns_fd; /* -1: none */
  const struct bind *binds;
  int nbinds;
  const char *rootfs, *sandbox_target, *workdir;
  const sigset_t *mask;
  const char *user;
  uid_t uid;
  gid_t gid;
  char **cmd;
};

/* The supervisor's view of the child. */
struct child_state {
  pid_t pid;
  int ended; /* it has exited: a zombie, not reaped yet, so its pid, group and session stay ours */
  int sync_fd; /* write end of the sync pipe until the release */
};

static void usage(FILE *to) {
  fprintf(to,
          "usage: %s launch --sandbox DIR --run-dir DIR [--user NAME] [--wait-go] [--namespaces "
          "pid,mount,net]\n"
          "                [--netns PATH] [--bind SRC:DST[:ro|:rw]]... -- COMMAND [ARG...]\n"
          "       %s spawner\n",
          prog, prog);
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

/* Value of "--name VALUE" or "--name=VALUE" at argv[*i]; NULL if argv[*i] is not --name. */
static char *option(char **argv, int argc, int *i, const char *name, int *missing) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] != '\0') return NULL;
  if (*i + 1 >= argc) {
    *missing = 1;
    return NULL;
  }
  return argv[++*i];
}

/* "pid,mount,net" -> CLONE_NEW* flags (pid implies mount: it needs its own /proc); -1 if bad. */
static int parse_namespaces(const char *list) {
  int flags = 0;
  const char *p = list;
  while (*p) {
    size_t n = strcspn(p, ",");
    if (n == 3 && strncmp(p, "pid", 3) == 0)
      flags |= CLONE_NEWPID | CLONE_NEWNS;
    else if ((n == 5 && strncmp(p, "mount", 5) == 0) || (n == 3 && strncmp(p, "mnt", 3) == 0))
      flags |= CLONE_NEWNS;
    else if (n == 3 && strncmp(p, "net", 3) == 0)
      flags |= CLONE_NEWNET;
    else if (n != 0) {
      fprintf(stderr, "%s: --namespaces: unknown namespace '%.*s' (pid, mount, net)\n", prog,
              (int)n, p);
      return -1;
    }
    p += n;
    if (*p == ',') p++;
  }
  return flags;
}

/*
 * "SRC:DST[:ro|:rw]" -> *b (pointing into `spec`, which it edits). 0, or -1 after printing what
 * is wrong. SRC ends at the first ':' (it cannot hold one); a last ":ro" or ":rw" is the mode.
 */
static int parse_bind(char *spec, struct bind *b) {
  char *colon = strchr(spec, ':'), *p;
  size_t n;
  const char *why = NULL;
  b->read_only = 0;
  if (!colon)
    why = "needs SRC:DST";
  else {
    *colon = '\0';
    b->src = spec;
    b->dst = colon + 1;
    n = strlen(b->dst);
    if (n >= 3 && (strcmp(b->dst + n - 3, ":ro") == 0 || strcmp(b->dst + n - 3, ":rw") == 0)) {
      b->read_only = b->dst[n - 2] == 'r' && b->dst[n - 1] == 'o';
      b->dst[n - 3] = '\0';
    }
    if (b->src[0] != '/')
      why = "SRC must be an absolute path";
    else if (b->dst[0] == '\0')
      why = "DST is empty";
    else if (b->dst[0] == '/')
      why = "DST must be relative to the sandbox";
    else {
      /* No "." or ".." component: DST names a place inside the sandbox. */
      for (p = b->dst; *p && !why; p += n) {
        n = strcspn(p, "/");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
          why = "DST must not have '.' or '..' components";
        if (p[n] == '/') n++;
      }
    }
    if (why) *colon = ':';
  }
  if (why) {
    fprintf(stderr, "%s: --bind %s: %s\n", prog, spec, why);
    return -1;
  }
  return 0;
}

/* 0, or -1 after printing what is wrong. */
static int parse(int argc, char **argv, struct options *o) {
  int i, missing = 0;
  char *v;
  memset(o, 0, sizeof *o);
  /* At most one bind per argument. */
  o->binds = calloc((size_t)argc, sizeof *o->binds);
  if (!o->binds) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return -1;
  }
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      o->cmd = argv + i + 1;
      break;
    } else if (strcmp(argv[i], "--wait-go") == 0) {
      o->wait_go = 1;
    } else if ((v = option(argv, argc, &i, "--sandbox", &missing))) {
      o->sandbox = v;
    } else if ((v = option(argv, argc, &i, "--run-dir", &missing))) {
      o->run_dir = v;
    } else if ((v = option(argv, argc, &i, "--user", &missing))) {
      o->user = v;
    } else if ((v = option(argv, argc, &i, "--namespaces", &missing))) {
      int f = parse_namespaces(v);
      if (f < 0) return -1;
      o->ns_flags |= f;
    } else if ((v = option(argv, argc, &i, "--netns", &missing))) {
      o->netns = v;
    } else if ((v = option(argv, argc, &i, "--bind", &missing))) {
      if (parse_bind(v, &o->binds[o->nbinds]) < 0) return -1;
      o->nbinds++;
      o->ns_flags |= CLONE_NEWNS; /* the mounts must stay in the container */
    } else if ((v = option(argv, argc, &i, "--rootfs", &missing))) {
      o->rootfs = v;
      o->ns_flags |= CLONE_NEWNS;
    } else if ((v = option(argv, argc, &i, "--sandbox-target", &missing))) {
      o->sandbox_target = v;
    } else if ((v = option(argv, argc, &i, "--workdir", &missing))) {
      o->workdir = v;
    } else if (missing) {
      fprintf(stderr, "%s: %s needs a value\n", prog, argv[i]);
      return -1;
    } else {
      fprintf(stderr, "%s: unknown argument '%s'\n", prog, argv[i]);
      return -1;
    }
  }
  if (!o->sandbox || !o->run_dir || !o->cmd || !o->cmd[0]) {
    fprintf(stderr, "%s: launch needs --sandbox, --run-dir and a command after --\n", prog);
    return -1;
  }
  if (o->user && !o->user[0]) {
    fprintf(stderr, "%s: --user needs a name\n", prog);
    return -1;
  }
  if (o->rootfs && o->rootfs[0] != '/') {
    fprintf(stderr, "%s: --rootfs must be an absolute path\n", prog);
    return -1;
  }
  if ((o->sandbox_target || o->workdir) && !o->rootfs) {
    fprintf(stderr, "%s: --sandbox-target and --workdir need --rootfs\n", prog);
    return -1;
  }
  if (!o->sandbox_target) o->sandbox_target = "/mnt/mesos/sandbox";
  if (o->sandbox_target[0] != '/' || (o->workdir && o->workdir[0] != '/')) {
    fprintf(stderr, "%s: --sandbox-target and --workdir must be absolute paths in the image\n",
            prog);
    return -1;
  }
  return 0;
}

/* ----- the child ------------------------------------------------------------------------- */

static void child_fail_bind(int report_fd, int step, int err, int bind) __attribute__((noreturn));
static void child_fail_bind(int report_fd, int step, int err, int bind) {
  struct report r = {step, err, bind};
  while (write(report_fd, &r, sizeof r) < 0 && errno == EINTR) {
  }
  _exit(step == STEP_EXEC && err == ENOENT ? 127 : 126);
}

static void child_fail(int report_fd, int step, int err) __attribute__((noreturn));
static void child_fail(int report_fd, int step, int err) {
  child_fail_bind(report_fd, step, err, 0);
}

/*
 * Open the directory `dst` below `sandbox_fd`, one component at a time, making the missing
 * ones (given to uid/gid when `chown_to` is set) and never following a symlink (O_NOFOLLOW:
 * ELOOP) nor leaving through ".." (refused when parsing). Sets *parent_fd and *name to the
 * last component's directory and name. Returns the fd of `dst`, or -1 with errno set.
 */
static int open_below(int sandbox_fd, const char *dst, int chown_to, uid_t uid, gid_t gid,
                      int *parent_fd, char *name) {
  const char *p = dst;
  int fd = fcntl(sandbox_fd, F_DUPFD_CLOEXEC, 3), parent = -1, e;
  if (fd < 0) return -1;
  while (*p) {
    size_t n = strcspn(p, "/");
    if (n == 0) {
      p++;
      continue;
    }
    if (n > NAME_MAX) {
      e = ENAMETOOLONG;
      goto fail;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    p += n;
    if (mkdirat(fd, name, 0755) == 0) {
      if (chown_to && fchownat(fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
        e = errno;
        goto fail;
      }
    } else if (errno != EEXIST) {
      e = errno;
      goto fail;
    }
    if (parent >= 0) close(parent);
    parent = fd;
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      struct stat st;
      e = errno;
      /* O_DIRECTORY says ENOTDIR for a symlink; say what it is. */
      if (e == ENOTDIR && fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode))
        e = ELOOP;
      goto fail;
    }
  }
  if (parent < 0) { /* parse() refuses an empty DST; "/" alone would be the sandbox itself */
    e = EINVAL;
    goto fail;
  }
  *parent_fd = parent;
  return fd;
fail:
  if (fd >= 0) close(fd);
  if (parent >= 0) close(parent);
  errno = e;
  return -1;
}

/* The flags of the mount at `fd` that a read-only bind remount must keep (MS_*). */
static unsigned long kept_flags(int fd) {
  struct statvfs sv;
  unsigned long f = 0;
  if (fstatvfs(fd, &sv) < 0) return 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

/*
 * Bind-mount b->src onto SANDBOX/b->dst in our own mount namespace (read-only if asked).
 * Source and target are mounted through /proc/self/fd, so what was checked is what is used.
 * On failure: child_fail_bind, never returns.
 */
static void bind_one(const struct child_setup *c, int sandbox_fd, int i) {
  const struct bind *b = &c->binds[i];
  char src_path[32], dst_path[32], name[NAME_MAX + 1];
  int src_fd, dst_fd, parent_fd = -1, mounted_fd;

  src_fd = open(b->src, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (src_fd < 0) child_fail_bind(c->report_fd, STEP_BIND_SOURCE, errno, i);
  dst_fd = open_below(sandbox_fd, b->dst, c->user != NULL, c->uid, c->gid, &parent_fd, name);
  if (dst_fd < 0) child_fail_bind(c->report_fd, STEP_BIND_TARGET, errno, i);
  snprintf(src_path, sizeof src_path, "/proc/self/fd/%d", src_fd);
  snprintf(dst_path, sizeof dst_path, "/proc/self/fd/%d", dst_fd);
  if (mount(src_path, dst_path, NULL, MS_BIND | MS_REC, NULL) < 0)
    child_fail_bind(c->report_fd, STEP_BIND_MOUNT, errno, i);
  if (b->read_only) {
    /* dst_fd is the directory under the mount; a fresh lookup from its parent finds the mount
       root, which is what a remount needs. */
    mounted_fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (mounted_fd < 0) child_fail_bind(c->report_fd, STEP_BIND_READ_ONLY, errno, i);
    snprintf(dst_path, sizeof dst_path, "/proc/self/fd/%d", mounted_fd);
    if (mount(NULL, dst_path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(mounted_fd),
              NULL) < 0)
      child_fail_bind(c->report_fd, STEP_BIND_READ_ONLY, errno, i);
    close(mounted_fd);
  }
  close(src_fd);
  close(dst_fd);
  close(parent_fd);
}

/* The fd of `path` below `root_fd` (a directory, made when missing, no symlink followed), or fails
 * the step. */
static int image_dir(const struct child_setup *c, int root_fd, const char *path, int step) {
  int parent = -1, fd;
  char name[NAME_MAX + 1];
  while (*path == '/') path++;
  if (!*path) return fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
  fd = open_below(root_fd, path, 0, 0, 0, &parent, name);
  if (fd < 0) child_fail(c->report_fd, step, errno);
  close(parent);
  return fd;
}

/* mount(2) onto the directory fd `at` (through /proc/self/fd, so what was opened is what is used).
 */
static int mount_at(const char *src, int at, const char *type, unsigned long flags,
                    const char *data) {
  char target[64];
  snprintf(target, sizeof target, "/proc/self/fd/%d", at);
  return mount(src, target, type, flags, data);
}

/*
 * The container's root filesystem from an image (docs/architecture.md §7): an overlay of the
 * layers (links/0 the base) with the container's own upper directory, a fresh /proc, a
 * read-only /sys, a minimal /dev (tmpfs with null, zero, full, random, urandom and tty bound
 * from the host, devpts, shm), the sandbox at --sandbox-target; then pivot_root into it, the
 * old root detached. Every directory in the image is opened without following symlinks (an
 * image's /mnt -> /etc cannot take a mount onto the host). All of it lives in the container's
 * mount namespace and goes with its last process.
 */
static void enter_rootfs(const struct child_setup *c, int sandbox_fd) {
  static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
  char path[PATH_MAX], opts[4096], host_dev[64];
  size_t len;
  int n, merged_fd, fd, dev_fd, i;
  struct stat st;

  /* The copy backend: a rootfs/ of the container's own, bound onto merged/ (pivot_root needs a
     mount point). */
  snprintf(path, sizeof path, "%s/rootfs", c->rootfs);
  if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
    char merged[PATH_MAX];
    snprintf(merged, sizeof merged, "%s/merged", c->rootfs);
    if (mount(path, merged, NULL, MS_BIND | MS_REC, NULL) < 0)
      child_fail(c->report_fd, STEP_ROOTFS_OVERLAY, errno);
    if (chdir(path) < 0) child_fail(c->report_fd, STEP_ROOTFS_OVERLAY, errno); /* for ../merged */
    goto mounted;
  }
  /* lowerdir lists the top layer first; the links keep the option short. */
  snprintf(path, sizeof path, "%s/links", c->rootfs);
  if (chdir(path) < 0) child_fail(c->report_fd, STEP_ROOTFS_OVERLAY, errno);
  for (n = 0;; n++) {
    char name[16];
    snprintf(name, sizeof name, "%d", n);
    if (fstatat(AT_FDCWD, name, &st, 0) < 0) break;
  }
  if (n == 0) child_fail(c->report_fd, STEP_ROOTFS_OVERLAY, ENOENT);
  len = (size_t)snprintf(opts, sizeof opts, "lowerdir=");
  for (i = n - 1; i >= 0 && len < sizeof opts; i--)
    len += (size_t)snprintf(opts + len, sizeof opts - len, "%d%s", i, i > 0 ? ":" : "");
  if (len < sizeof opts)
    len += (size_t)snprintf(opts + len, sizeof opts - len, ",upperdir=../upper,workdir=../work");
  if (len >= sizeof opts) child_fail(c->report_fd, STEP_ROOTFS_OVERLAY, E2BIG);
  if (mount("overlay", "../merged", "overlay", 0, opts) < 0)
    child_fail(c->report_fd, STEP_ROOTFS_OVERLAY, errno);
mounted:
  merged_fd = open("../merged", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (merged_fd < 0) child_fail(c->report_fd, STEP_ROOTFS_OVERLAY, errno);

  fd = image_dir(c, merged_fd, "proc", STEP_ROOTFS_PROC);
  if (mount_at("proc", fd, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    child_fail(c->report_fd, STEP_ROOTFS_PROC, errno);
  close(fd);
  fd = image_dir(c, merged_fd, "sys", STEP_ROOTFS_SYS);
  if (mount_at("sysfs", fd, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    child_fail(c->report_fd, STEP_ROOTFS_SYS, errno);
  close(fd);

  fd = image_dir(c, merged_fd, "dev", STEP_ROOTFS_DEV);
  if (mount_at("tmpfs", fd, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME, "mode=755") < 0)
    child_fail(c->report_fd, STEP_ROOTFS_DEV, errno);
  close(fd);
  dev_fd = image_dir(c, merged_fd, "dev", STEP_ROOTFS_DEV); /* the tmpfs now */
  for (i = 0; i < (int)(sizeof devices / sizeof devices[0]); i++) {
    int node = openat(dev_fd, devices[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (node < 0) child_fail(c->report_fd, STEP_ROOTFS_DEV, errno);
    close(node);
    node = openat(dev_fd, devices[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
    snprintf(host_dev, sizeof host_dev, "/dev/%s", devices[i]);
    if (node < 0 || mount_at(host_dev, node, NULL, MS_BIND, NULL) < 0)
      child_fail(c->report_fd, STEP_ROOTFS_DEV, errno);
    close(node);
  }
  if (mkdirat(dev_fd, "pts", 0755) < 0 || mkdirat(dev_fd, "shm", 01777) < 0)
    child_fail(c->report_fd, STEP_ROOTFS_DEV, errno);
  fd = openat(dev_fd, "pts", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || mount_at("devpts", fd, "devpts", MS_NOSUID | MS_NOEXEC,
                         "newinstance,ptmxmode=0666,mode=0620") < 0)
    child_fail(c->report_fd, STEP_ROOTFS_DEV, errno);
  close(fd);
  fd = openat(dev_fd, "shm", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || mount_at("tmpfs", fd, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
    child_fail(c->report_fd, STEP_ROOTFS_DEV, errno);
  close(fd);
  if (symlinkat("/proc/self/fd", dev_fd, "fd") < 0 ||
      symlinkat("/proc/self/fd/0", dev_fd, "stdin") < 0 ||
      symlinkat("/proc/self/fd/1", dev_fd, "stdout") < 0 ||
      symlinkat("/proc/self/fd/2", dev_fd, "stderr") < 0 ||
      symlinkat("pts/ptmx", dev_fd, "ptmx") < 0)
    child_fail(c->report_fd, STEP_ROOTFS_DEV, errno);
  close(dev_fd);

  /* The sandbox (with the volumes bound into it above), recursively. */
  fd = image_dir(c, merged_fd, c->sandbox_target, STEP_ROOTFS_SANDBOX);
  {
    char src[64];
    snprintf(src, sizeof src, "/proc/self/fd/%d", sandbox_fd);
    if (mount_at(src, fd, NULL, MS_BIND | MS_REC, NULL) < 0)
      child_fail(c->report_fd, STEP_ROOTFS_SANDBOX, errno);
  }
  close(fd);

  /* pivot_root(".", ".") stacks the old root on the new one; detaching it leaves the image. */
  if (fchdir(merged_fd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
      umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
    child_fail(c->report_fd, STEP_ROOTFS_PIVOT, errno);
  close(merged_fd);
  {
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *wd = c->workdir ? c->workdir : c->sandbox_target;
    if (root < 0) child_fail(c->report_fd, STEP_ROOTFS_WORKDIR, errno);
    fd = image_dir(c, root, wd, STEP_ROOTFS_WORKDIR);
    if (fchdir(fd) < 0) child_fail(c->report_fd, STEP_ROOTFS_WORKDIR, errno);
    close(fd);
    close(root);
  }
}

/* After fork: never returns. */
static void run_child(const struct child_setup *c) __attribute__((noreturn));
static void run_child(const struct child_setup *c) {
  struct sigaction dfl;
  int null_fd, i, sandbox_fd = c->sandbox_fd;
  char go;
  ssize_t n;

  close(c->parent_fds[0]);
  close(c->parent_fds[1]);
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, NULL); /* ignored in the supervisor; exec would keep that */
  sigprocmask(SIG_SETMASK, c->mask, NULL);

  if (setsid() < 0) child_fail(c->report_fd, STEP_SETSID, errno);
  if (c->netns_fd >= 0 && setns(c->netns_fd, CLONE_NEWNET) < 0)
    child_fail(c->report_fd, STEP_SETNS, errno);
  /* Our own mount namespace: nothing mounted here reaches the host; the host's mounts still
     reach us. A new pid namespace gets the /proc that shows it. */
  if ((c->ns_flags & CLONE_NEWNS) && mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    child_fail(c->report_fd, STEP_MOUNT_SLAVE, errno);
  if ((c->ns_flags & CLONE_NEWPID) &&
      mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    child_fail(c->report_fd, STEP_MOUNT_PROC, errno);
  /* An fd opened before the clone stays on the host's mounts: neither a mount on it nor a
     working directory there would be in our namespace. Open the sandbox again, here, and make
     sure it is the same directory. */
  if (c->ns_flags & CLONE_NEWNS) {
    struct stat was, is;
    sandbox_fd = open(c->sandbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sandbox_fd < 0) child_fail(c->report_fd, STEP_REOPEN_SANDBOX, errno);
    if (fstat(c->sandbox_fd, &was) < 0 || fstat(sandbox_fd, &is) < 0)
      child_fail(c->report_fd, STEP_REOPEN_SANDBOX, errno);
    if (was.st_dev != is.st_dev || was.st_ino != is.st_ino)
      child_fail(c->report_fd, STEP_REOPEN_SANDBOX, ESTALE);
  }
  for (i = 0; i < c->nbinds; i++) bind_one(c, sandbox_fd, i);
  if (c->rootfs)
    enter_rootfs(c, sandbox_fd);
  else if (fchdir(sandbox_fd) < 0)
    child_fail(c->report_fd, STEP_CHDIR, errno);
  null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(c->out_fd, STDOUT_FILENO) < 0 ||
      dup2(c->err_fd, STDERR_FILENO) < 0)
    child_fail(c->report_fd, STEP_STDIO, errno);

  /* Wait for the release: one byte. EOF: the launch was abandoned (the supervisor kills us too). */
  do n = read(c->sync_fd, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) _exit(EXIT_SUPERVISOR);

  if (c->user) {
    if (initgroups(c->user, c->gid) < 0) child_fail(c->report_fd, STEP_INITGROUPS, errno);
    if (setgid(c->gid) < 0) child_fail(c->report_fd, STEP_SETGID, errno);
    if (setuid(c->uid) < 0) child_fail(c->report_fd, STEP_SETUID, errno);
  }
#ifdef SYS_close_range
  /* Nothing else we inherited goes to the command (best effort: needs Linux 5.11). Every fd of
     ours is O_CLOEXEC already; this covers what the supervisor itself inherited. */
  syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
#endif
  execvp(c->cmd[0], c->cmd);
  child_fail(c->report_fd, STEP_EXEC, errno);
}

/* clone(2)'s entry point: the child on its own stack. */
static int child_main(void *arg) {
  run_child((const struct child_setup *)arg);
}

/* The child's stack when it is cloned into namespaces (as Mesos's Linux launcher: 8 MiB). */
#define CHILD_STACK_SIZE (8UL << 20)

/* fork(), or clone() into the namespaces of `flags`. In the child: run_child, never returns. */
static pid_t start_child(struct child_setup *setup, int flags) {
  void *stack;
  pid_t pid;
  if (flags == 0) {
    pid = fork();
    if (pid == 0) run_child(setup);
    return pid;
  }
  stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  pid = clone(child_main, (char *)stack + CHILD_STACK_SIZE, flags | SIGCHLD, setup);
  /* The child has its own copy of the memory (no CLONE_VM): the parent's mapping can go. */
  {
    int e = errno;
    munmap(stack, CHILD_STACK_SIZE);
    errno = e;
  }
  return pid;
}

/* ----- the supervisor -------------------------------------------------------------------- */

/* Pids of our children: /proc/self/task/PID/children (single-threaded), or a scan of /proc by
   parent pid where that file does not exist. Calls fn(pid) for each; returns how many. */
static int each_child(void (*fn)(pid_t, int), int sig) {
  char path[64], buf[4096];
  pid_t self = getpid();
  int fd, count = 0;
  ssize_t n;

  snprintf(path, sizeof path, "/proc/self/task/%ld/children", (long)self);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    /* The file is small unless the container left hundreds of orphans; read it whole. */
    size_t len = 0;
    do {
      n = read(fd, buf + len, sizeof buf - 1 - len);
      if (n > 0) len += (size_t)n;
    } while ((n > 0 && len < sizeof buf - 1) || (n < 0 && errno == EINTR));
    close(fd);
    buf[len] = '\0';
    if (len < sizeof buf - 1) {
      char *p = buf, *end;
      for (;;) {
        long pid = strtol(p, &end, 10);
        if (end == p) break;
        if (pid > 0) {
          fn((pid_t)pid, sig);
          count++;
        }
        p = end;
      }
      return count;
    }
  }
  {
    DIR *d = opendir("/proc");
    struct dirent *e;
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
      char stat[512], *q, *end;
      long pid, ppid;
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      pid = strtol(e->d_name, &end, 10);
      if (*end != '\0') continue;
      snprintf(path, sizeof path, "/proc/%ld/stat", pid);
      fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      do n = read(fd, stat, sizeof stat - 1);
      while (n < 0 && errno == EINTR);
      close(fd);
      if (n <= 0) continue;
      stat[n] = '\0';
      q = strrchr(stat, ')');
      if (q && sscanf(q + 1, " %*c %ld", &ppid) == 1 && ppid == (long)self) {
        fn((pid_t)pid, sig);
        count++;
      }
    }
    closedir(d);
  }
  return count;
}

static void kill_one(pid_t pid, int sig) {
  kill(pid, sig);
}

/*
 * SIGKILL the container: the command's process group and every child of ours (the command, and
 * the orphans of the container, which come to us because we are a child subreaper). Only
 * called while the command is alive or an unreaped zombie, so its group id is still its own.
 */
static void kill_container(const struct child_state *c) {
  kill(-c->pid, SIGKILL);
  each_child(kill_one, SIGKILL);
}

/* Pass `sig` to the child's process group (or to the child, before its setsid). */
static void signal_group(const struct child_state *c, int sig) {
  if (c->ended) return; /* its group is being torn down; nothing of ours to pass it to */
  if (kill(-c->pid, sig) < 0 && errno == ESRCH) kill(c->pid, sig);
}

/*
 * Has the command exited? It is left unreaped, so its pid and group id stay reserved. Orphans
 * we adopted that have ended are reaped on the way. The command is the first of our children
 * (adopted ones are added after it), so once it is a zombie it is the one waitid finds.
 */
static void check_ended(struct child_state *c) {
  siginfo_t info;
  for (;;) {
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid == 0) break;
    if (info.si_pid == c->pid) {
      c->ended = 1;
      break;
    }
    waitpid(info.si_pid, NULL, WNOHANG);
  }
  if (!c->ended) {
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)c->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == c->pid)
      c->ended = 1;
  }
}

static void handle_signals(int sfd, struct child_state *c) {
  struct signalfd_siginfo si;
  while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
    if (si.ssi_signo == SIGCHLD)
      check_ended(c);
    else if (si.ssi_signo == SIGUSR2) {
      if (!c->ended) kill_container(c);
    } else
      signal_group(c, (int)si.ssi_signo);
  }
}

/* Milliseconds on the monotonic clock. */
static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * After the command was reaped: SIGKILL what is left of the container (children we adopted,
 * then their children as they are orphaned in turn) and reap it. Gives up waiting after
 * LEFTOVER_WAIT_MS (a process stuck in the kernel) so the status still gets recorded.
 */
#define LEFTOVER_WAIT_MS 5000
static void end_leftovers(int sfd) {
  long long deadline = now_ms() + LEFTOVER_WAIT_MS;
  for (;;) {
    struct signalfd_siginfo si;
    struct pollfd p = {sfd, POLLIN, 0};
    long long left;
    pid_t w;
    while ((w = waitpid(-1, NULL, WNOHANG)) > 0) {
    }
    if (w < 0 && errno != EINTR) return; /* ECHILD: nothing left */
    if (w < 0) continue;
    each_child(kill_one, SIGKILL);
    left = deadline - now_ms();
    if (left <= 0) return;
    if (poll(&p, 1, (int)left) > 0)
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
      }
  }
}

static void release(struct child_state *c) {
  char go = 'g';
  if (c->sync_fd < 0) return;
  while (write(c->sync_fd, &go, 1) < 0 && errno == EINTR) {
  }
  close(c->sync_fd);
  c->sync_fd = -1;
}

/* Wait for the line "go" on stdin, handling signals meanwhile. 1 = go, 0 = abort, 2 = child ended.
 */
static int wait_go(int sfd, struct child_state *c) {
  char line[16];
  size_t len = 0;
  for (;;) {
    struct pollfd p[2] = {{sfd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    char *nl;
    ssize_t n;
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 0;
    }
    if (p[0].revents) handle_signals(sfd, c);
    if (c->ended) return 2;
    if (!p[1].revents) continue;
    n = read(STDIN_FILENO, line + len, sizeof line - 1 - len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return 0;
    len += (size_t)n;
    line[len] = '\0';
    nl = memchr(line, '\n', len);
    if (nl) {
      *nl = '\0';
      return strcmp(line, "go") == 0 ? 1 : 0;
    }
    if (len == sizeof line - 1) return 0;
  }
}

static void wait_ended(int sfd, struct child_state *c) {
  check_ended(c); /* a SIGCHLD read along with other signals is not lost, but be sure */
  while (!c->ended) {
    struct pollfd p = {sfd, POLLIN, 0};
    if (poll(&p, 1, -1) < 0 && errno != EINTR) {
      /* Cannot wait through the signalfd: block in waitid instead. */
      siginfo_t info;
      while (waitid(P_PID, (id_t)c->pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
      }
      c->ended = 1;
      break;
    }
    if (p.revents) handle_signals(sfd, c);
  }
}

/* Put /dev/null on `fd`. */
static void to_null(int fd) {
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) {
    close(fd);
    return;
  }
  if (null_fd != fd) {
    dup2(null_fd, fd);
    close(null_fd);
  }
}

/*
 * The sandbox may hold what a task or a fetched archive left: never through a symlink
 * (O_NOFOLLOW: ELOOP), never waiting on a FIFO (O_NONBLOCK, dropped once open), and only a
 * regular file with no other link (a hard link to a file elsewhere would get the task's output
 * and be given to --user): EINVAL otherwise. -1 with errno set.
 */
static int open_output(int dirfd, const char *name) {
  struct stat st;
  int e, fd = openat(dirfd, name,
                     O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == ENXIO) errno = EINVAL; /* a FIFO nobody reads */
    return -1;
  }
  if (fstat(fd, &st) < 0) goto fail;
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
    errno = EINVAL;
    goto fail;
  }
  if (fcntl(fd, F_SETFL, O_APPEND) < 0) goto fail;
  return fd;
fail:
  e = errno;
  close(fd);
  errno = e;
  return -1;
}

/* How deep give_tree goes: one open directory per level. */
#define GIVE_MAX_DEPTH 4096
static const char give_too_deep[] = "more than 4096 directory levels deep (refused)";

/* Give the entry `name` of the directory `dfd` (not followed if a symlink) to uid/gid. */
static int give_entry(int dfd, const char *name, const struct stat *st, uid_t uid, gid_t gid) {
  if (st->st_uid == uid && st->st_gid == gid) return 0;
  if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) == 0 || errno == ENOENT) return 0;
  return -1;
}

/*
 * Give the directory tree at `path` to uid/gid (as the sandbox is given to --user), unless its
 * top already belongs to them: a volume used by the same user again is not walked (the top is
 * given last, so a walk that failed is done again). The walk
 * goes by descriptor, never by path: each directory is opened below its parent's descriptor
 * with O_NOFOLLOW and its entries are changed through it (fchownat, AT_SYMLINK_NOFOLLOW), so a
 * directory swapped for a symlink while the walk runs (the volume's user can do that from the
 * host) leads nowhere: the symlink itself is changed, never followed. Other file systems
 * mounted below are not entered; entries removed meanwhile are skipped. A tree deeper than
 * GIVE_MAX_DEPTH is refused. 0, or -1 with errno set and `what` naming the failed step.
 */
static int give_tree(const char *path, uid_t uid, gid_t gid, const char **what) {
  DIR **stack;
  struct stat st;
  struct rlimit lim, saved;
  int depth = 0, fd, dfd0 = -1, e = 0, limited = 0;
  dev_t dev;

  fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    *what = "open";
    return -1;
  }
  if (fstat(fd, &st) < 0) {
    e = errno;
    *what = "stat";
    close(fd);
    errno = e;
    return -1;
  }
  if (st.st_uid == uid && st.st_gid == gid) {
    close(fd);
    return 0;
  }
  dev = st.st_dev;
  stack = calloc(GIVE_MAX_DEPTH, sizeof *stack);
  if (!stack || (dfd0 = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0 || !(stack[0] = fdopendir(dfd0))) {
    e = errno;
    *what = "open";
    if (dfd0 >= 0) close(dfd0);
    close(fd);
    free(stack);
    errno = e;
    return -1;
  }
  depth = 1;
  /* One descriptor per level: make room for the deepest walk, for the walk only. */
  if (getrlimit(RLIMIT_NOFILE, &saved) == 0 && saved.rlim_cur != RLIM_INFINITY &&
      saved.rlim_cur < GIVE_MAX_DEPTH + 64) {
    lim = saved;
    lim.rlim_cur = saved.rlim_max == RLIM_INFINITY || saved.rlim_max > GIVE_MAX_DEPTH + 64
                       ? GIVE_MAX_DEPTH + 64
                       : saved.rlim_max;
    limited = setrlimit(RLIMIT_NOFILE, &lim) == 0;
  }

  while (depth > 0) {
    DIR *d = stack[depth - 1];
    int dfd = dirfd(d), cfd;
    struct dirent *de;

    errno = 0;
    de = readdir(d);
    if (!de) {
      if (errno) {
        e = errno;
        *what = "read a directory";
        break;
      }
      closedir(d);
      stack[--depth] = NULL;
      continue;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue;
      e = errno;
      *what = "stat";
      break;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (give_entry(dfd, de->d_name, &st, uid, gid) < 0) {
        e = errno;
        *what = "chown";
        break;
      }
      continue;
    }
    if (st.st_dev != dev) continue; /* a mount point: another file system */
    cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0) {
      if (errno == ENOENT) continue;
      if (errno == ELOOP || errno == ENOTDIR) {
        /* No longer a directory (swapped meanwhile): change the entry itself, not followed. */
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) continue;
        if (fchownat(dfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) == 0 || errno == ENOENT)
          continue;
        e = errno;
        *what = "chown";
        break;
      }
      e = errno;
      *what = errno == EMFILE ? "open a directory (out of file descriptors)" : "open a directory";
      break;
    }
    if (fstat(cfd, &st) < 0) {
      e = errno;
      close(cfd);
      *what = "stat";
      break;
    }
    if (st.st_dev != dev) { /* mounted meanwhile: not entered */
      close(cfd);
      continue;
    }
    if ((st.st_uid != uid || st.st_gid != gid) && fchown(cfd, uid, gid) < 0) {
      e = errno;
      close(cfd);
      *what = "chown";
      break;
    }
    if (depth == GIVE_MAX_DEPTH) {
      close(cfd);
      e = ELOOP;
      *what = give_too_deep;
      break;
    }
    if (!(stack[depth] = fdopendir(cfd))) {
      e = errno;
      close(cfd);
      *what = "open a directory";
      break;
    }
    depth++;
  }
  while (depth > 0) closedir(stack[--depth]);
  free(stack);
  if (limited) setrlimit(RLIMIT_NOFILE, &saved);
  /* The top last: a walk that did not finish is done again at the next launch. */
  if (!e && fchown(fd, uid, gid) < 0) {
    e = errno;
    *what = "chown";
  }
  close(fd);
  errno = e;
  return e ? -1 : 0;
}

/* mkdir that accepts an existing directory. */
static int ensure_dir(int dirfd, const char *path) {
  return mkdirat(dirfd, path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static int launch(const struct options *o) {
  int sandbox_fd = -1, out_fd = -1, err_fd = -1, run_fd = -1, pids_fd = -1, sfd = -1, netns_fd = -1,
      status_fd = -1;
  int sync_p[2] = {-1, -1}, report_p[2] = {-1, -1};
  int rc = EXIT_SUPERVISOR, wstatus = 0, w, e, outcome;
  uid_t uid = 0;
  gid_t gid = 0;
  unsigned long long start_time = 0;
  const char *what = NULL;
  char record[1024], line[64];
  sigset_t set, old;
  struct sigaction ign;
  struct child_state c = {0, 0, -1};
  struct child_setup setup;
  struct report rep = {0, 0, 0};
  ssize_t n;
  size_t k;

  /* Signals wait in the signalfd from the start: a SIGTERM during setup reaches the child. */
  sigemptyset(&set);
  for (k = 0; k < NHANDLED; k++) sigaddset(&set, handled[k]);
  sigprocmask(SIG_BLOCK, &set, &old);
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, NULL); /* the agent may be gone when we write the pid line */

  if (o->netns && (netns_fd = open(o->netns, O_RDONLY | O_CLOEXEC)) < 0) {
    fprintf(stderr, "%s: --netns %s: %s\n", prog, o->netns, strerror(errno));
    goto out;
  }

  if (o->user) {
    struct passwd *pw;
    if (geteuid() != 0) {
      fprintf(stderr, "%s: --user %s: switching user needs root (running as uid %ld)\n", prog,
              o->user, (long)geteuid());
      goto out;
    }
    errno = 0;
    pw = getpwnam(o->user);
    if (!pw) {
      fprintf(stderr, "%s: --user %s: %s\n", prog, o->user,
              errno ? strerror(errno) : "no such user");
      goto out;
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }

  sandbox_fd = open(o->sandbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (sandbox_fd < 0) {
    what = "open sandbox";
    goto fail_path;
  }
  out_fd = open_output(sandbox_fd, "stdout");
  err_fd = out_fd < 0 ? -1 : open_output(sandbox_fd, "stderr");
  if (out_fd < 0 || err_fd < 0) {
    what = errno == EINVAL ? "open the output files (stdout, stderr: each must be a regular file "
                             "with no other link) in"
                           : "open the output files in";
    goto fail_path;
  }
  if (o->user && (fchown(sandbox_fd, uid, gid) < 0 || fchown(out_fd, uid, gid) < 0 ||
                  fchown(err_fd, uid, gid) < 0)) {
    what = "give the sandbox to --user in";
    goto fail_path;
  }
  if (o->user) {
    int b;
    for (b = 0; b < o->nbinds; b++) {
      if (give_tree(o->binds[b].src, uid, gid, &what) < 0) {
        e = errno;
        if (what == give_too_deep)
          fprintf(stderr, "%s: --bind %s: giving it to --user %s: %s\n", prog, o->binds[b].src,
                  o->user, what);
        else
          fprintf(stderr, "%s: --bind %s: giving it to --user %s: %s: %s\n", prog, o->binds[b].src,
                  o->user, what, strerror(e));
        goto out;
      }
    }
  }

  if (ensure_dir(AT_FDCWD, o->run_dir) < 0 ||
      (run_fd = open(o->run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
      ensure_dir(run_fd, "pids") < 0 ||
      (pids_fd = openat(run_fd, "pids", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    e = errno;
    fprintf(stderr, "%s: run directory %s: %s\n", prog, o->run_dir, strerror(e));
    goto out;
  }
  /* The exit status must be recordable on a disk the command fills: its space is taken now. */
  if ((status_fd = ctr_reserve(run_fd, "exit.status", sizeof record, &what)) < 0) {
    fprintf(stderr, "%s: reserving space for %s/exit.status: %s: %s\n", prog, o->run_dir, what,
            strerror(-status_fd));
    goto out;
  }
  if ((e = ctr_start_time(0, &start_time)) < 0) {
    fprintf(stderr, "%s: reading /proc/self/stat: %s\n", prog, strerror(-e));
    goto out;
  }
  /* Not fsynced: it only has to survive the agent, and a host crash ends the supervisor too. */
  ctr_record_pid(record, sizeof record, getpid(), start_time);
  if ((e = ctr_write_atomic(pids_fd, "forked.pid", record, 0, &what)) < 0) {
    fprintf(stderr, "%s: recording %s/pids/forked.pid: %s: %s\n", prog, o->run_dir, what,
            strerror(-e));
    goto out;
  }

  /* Orphans of the container come to us, so they stay in it (killed at its end, and counted). */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    fprintf(stderr, "%s: prctl(PR_SET_CHILD_SUBREAPER): %s\n", prog, strerror(errno));
    goto out;
  }
  sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    fprintf(stderr, "%s: signalfd: %s\n", prog, strerror(errno));
    goto out;
  }
  if (pipe2(sync_p, O_CLOEXEC) < 0 || pipe2(report_p, O_CLOEXEC) < 0) {
    fprintf(stderr, "%s: pipe: %s\n", prog, strerror(errno));
    goto out;
  }

  setup.sandbox = o->sandbox;
  setup.sandbox_fd = sandbox_fd;
  setup.out_fd = out_fd;
  setup.err_fd = err_fd;
  setup.sync_fd = sync_p[0];
  setup.report_fd = report_p[1];
  setup.parent_fds[0] = sync_p[1];
  setup.parent_fds[1] = report_p[0];
  setup.ns_flags = o->ns_flags;
  setup.netns_fd = netns_fd;
  setup.binds = o->binds;
  setup.nbinds = o->nbinds;
  setup.rootfs = o->rootfs;
  setup.sandbox_target = o->sandbox_target;
  setup.workdir = o->workdir;
  setup.mask = &old;
  setup.user = o->user;
  setup.uid = uid;
  setup.gid = gid;
  setup.cmd = o->cmd;
  c.pid = start_child(&setup, o->ns_flags);
  if (c.pid < 0) {
    fprintf(stderr, "%s: %s: %s\n", prog, o->ns_flags ? "clone into new namespaces" : "fork",
            strerror(errno));
    goto out;
  }
  c.sync_fd = sync_p[1];
  sync_p[1] = -1;
  close(sync_p[0]);
  sync_p[0] = -1;
  close(report_p[1]);
  report_p[1] = -1;
  close(sandbox_fd);
  close(out_fd);
  close(err_fd);
  sandbox_fd = out_fd = err_fd = -1;

  n = snprintf(line, sizeof line, "pid %ld\n", (long)c.pid);
  write_all(STDOUT_FILENO, line, (size_t)n); /* EPIPE: nobody listens; carry on */

  outcome = o->wait_go ? wait_go(sfd, &c) : 1;
  if (outcome == 1) release(&c);
  if (outcome == 0) kill_container(&c); /* abort: it never ran the command */
  close(c.sync_fd);                     /* abort or ended: the child reads EOF */
  c.sync_fd = -1;
  /* From here on the supervisor depends on nobody. */
  to_null(STDIN_FILENO);
  to_null(STDOUT_FILENO);

  wait_ended(sfd, &c);
  /* The command has ended; so does the rest of its container. */
  kill(-c.pid, SIGKILL);
  do w = waitpid(c.pid, &wstatus, 0);
  while (w < 0 && errno == EINTR);
  end_leftovers(sfd);

  do n = read(report_p[0], &rep, sizeof rep);
  while (n < 0 && errno == EINTR);
  if (outcome == 0) {
    ctr_status_aborted(record, sizeof record, c.pid);
    rc = EXIT_SUPERVISOR;
  } else if (n == (ssize_t)sizeof rep && rep.step >= STEP_SETSID && rep.step <= STEP_EXEC) {
    char msg[1024];
    int code = rep.step == STEP_EXEC && rep.err == ENOENT ? 127 : 126;
    if (rep.step == STEP_EXEC)
      snprintf(msg, sizeof msg, "exec %s: %s", o->cmd[0], strerror(rep.err));
    else if (rep.step >= STEP_BIND_SOURCE && rep.step <= STEP_BIND_READ_ONLY && rep.bind >= 0 &&
             rep.bind < o->nbinds) {
      const struct bind *b = &o->binds[rep.bind];
      int escape = rep.step == STEP_BIND_TARGET && rep.err == ELOOP;
      snprintf(msg, sizeof msg, "bind mount %s onto %s in the sandbox: %s: %s", b->src, b->dst,
               step_names[rep.step],
               escape ? "a symbolic link on the way (refused: it could lead out of the sandbox)"
                      : strerror(rep.err));
    } else if (o->user && rep.step >= STEP_INITGROUPS && rep.step <= STEP_SETUID)
      snprintf(msg, sizeof msg, "%s (user %s): %s", step_names[rep.step], o->user,
               strerror(rep.err));
    else
      snprintf(msg, sizeof msg, "%s: %s", step_names[rep.step], strerror(rep.err));
    ctr_status_failed(record, sizeof record, c.pid, code, msg, wstatus);
    rc = code;
  } else {
    ctr_status_ended(record, sizeof record, c.pid, wstatus);
    rc = WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
  }
  e = ctr_write_reserved(run_fd, "exit.status", status_fd, record, &what);
  status_fd = -1;
  if (e < 0) {
    fprintf(stderr, "%s: recording %s/exit.status: %s: %s\n", prog, o->run_dir, what, strerror(-e));
    rc = EXIT_SUPERVISOR;
  }
  goto out;

fail_path:
  e = errno;
  fprintf(stderr, "%s: %s %s: %s\n", prog, what, o->sandbox, strerror(e));
out:
  if (netns_fd >= 0) close(netns_fd);
  if (sandbox_fd >= 0) close(sandbox_fd);
  if (out_fd >= 0) close(out_fd);
  if (err_fd >= 0) close(err_fd);
  if (pids_fd >= 0) close(pids_fd);
  if (status_fd >= 0) ctr_unreserve(run_fd, "exit.status", status_fd);
  if (run_fd >= 0) close(run_fd);
  if (sfd >= 0) close(sfd);
  for (k = 0; k < 2; k++) {
    if (sync_p[k] >= 0) close(sync_p[k]);
    if (report_p[k] >= 0) close(report_p[k]);
  }
  if (c.sync_fd >= 0) close(c.sync_fd);
  /* The handled signals stay blocked: one pending now must not end us after the record. */
  return rc;
}

int main(int argc, char **argv) {
  struct options o;
  int fd, rc;

  /* Our own fds must not land on 0-2 if we were started with them closed. */
  while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2) {
  }
  if (fd > 2) close(fd);

  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    usage(stdout);
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "spawner") == 0) return spawner_main();
  if (argc >= 2 && strcmp(argv[1], "probe") == 0) return probe_main(argc, argv);
  if (argc < 2 || strcmp(argv[1], "launch") != 0) {
    if (argc >= 2) fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
    usage(stderr);
    return EXIT_SUPERVISOR;
  }
  if (parse(argc - 1, argv + 1, &o) < 0) {
    free(o.binds);
    usage(stderr);
    return EXIT_SUPERVISOR;
  }
  rc = launch(&o);
  free(o.binds);
  return rc;
}
