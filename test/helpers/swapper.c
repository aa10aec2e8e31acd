/*
 * swapper A B: exchange the two directory entries A and B (renameat2 RENAME_EXCHANGE) again and
 * again until killed, as an attacker does to swap a directory and a symlink while a path
 * through them is being resolved. Writes "swapping\n" on stdout once the first exchange is done.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: swapper A B\n");
    return 2;
  }
  for (unsigned long n = 0;; n++) {
    if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) < 0) {
      perror("renameat2");
      return 1;
    }
    if (n == 0) {
      fputs("swapping\n", stdout);
      fflush(stdout);
    }
  }
}
