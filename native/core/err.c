#define _GNU_SOURCE
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void crl_err_clear(struct crl_err *err) {
  if (!err) return;
  err->errnum = 0;
  err->op[0] = '\0';
  err->detail[0] = '\0';
}

int crl_err_set(struct crl_err *err, int errnum, const char *op, const char *detail_fmt, ...) {
  int saved = errno;
  if (errnum <= 0) errnum = EIO;
  if (err) {
    err->errnum = errnum;
    snprintf(err->op, sizeof err->op, "%s", op ? op : "");
    err->detail[0] = '\0';
    if (detail_fmt) {
      va_list ap;
      va_start(ap, detail_fmt);
      vsnprintf(err->detail, sizeof err->detail, detail_fmt, ap);
      va_end(ap);
    }
  }
  errno = saved;
  return -errnum;
}

// The errno table reads best as a block: not reformatted.
// clang-format off
#define N(e) case e: return #e;
const char *crl_errno_name(int errnum) {
  switch (errnum) {
    /* The errno values a resource manager meets, by hand so that this works on any libc. */
    N(EPERM) N(ENOENT) N(ESRCH) N(EINTR) N(EIO) N(ENXIO) N(E2BIG) N(ENOEXEC) N(EBADF)
    N(ECHILD) N(EAGAIN) N(ENOMEM) N(EACCES) N(EFAULT) N(ENOTBLK) N(EBUSY) N(EEXIST) N(EXDEV)
    N(ENODEV) N(ENOTDIR) N(EISDIR) N(EINVAL) N(ENFILE) N(EMFILE) N(ENOTTY) N(ETXTBSY)
    N(EFBIG) N(ENOSPC) N(ESPIPE) N(EROFS) N(EMLINK) N(EPIPE) N(EDOM) N(ERANGE) N(EDEADLK)
    N(ENAMETOOLONG) N(ENOLCK) N(ENOSYS) N(ENOTEMPTY) N(ELOOP) N(ENOMSG) N(EIDRM) N(ENODATA)
    N(ETIME) N(ENOLINK) N(EPROTO) N(EBADMSG) N(EOVERFLOW) N(EILSEQ) N(EUSERS) N(ENOTSOCK)
    N(EDESTADDRREQ) N(EMSGSIZE) N(EPROTOTYPE) N(ENOPROTOOPT) N(EPROTONOSUPPORT)
    N(ESOCKTNOSUPPORT) N(EOPNOTSUPP) N(EPFNOSUPPORT) N(EAFNOSUPPORT) N(EADDRINUSE)
    N(EADDRNOTAVAIL) N(ENETDOWN) N(ENETUNREACH) N(ENETRESET) N(ECONNABORTED) N(ECONNRESET)
    N(ENOBUFS) N(EISCONN) N(ENOTCONN) N(ESHUTDOWN) N(ETOOMANYREFS) N(ETIMEDOUT)
    N(ECONNREFUSED) N(EHOSTDOWN) N(EHOSTUNREACH) N(EALREADY) N(EINPROGRESS) N(ESTALE)
    N(EDQUOT) N(ECANCELED) N(EOWNERDEAD) N(ENOTRECOVERABLE) N(ERFKILL) N(EHWPOISON)
    N(ENOMEDIUM) N(EMEDIUMTYPE) N(ENOKEY) N(EKEYEXPIRED) N(EKEYREVOKED) N(EKEYREJECTED)
    N(ENOSTR) N(ENOSR) N(EREMOTE) N(ECOMM) N(EBADE) N(EBADR) N(EXFULL) N(ENOANO)
    N(EBADRQC) N(EBADSLT) N(EBFONT) N(ENONET) N(ENOPKG) N(EADV) N(ESRMNT) N(EDOTDOT)
    N(ENOTUNIQ) N(EBADFD) N(EREMCHG) N(ELIBACC) N(ELIBBAD) N(ELIBSCN) N(ELIBMAX)
    N(ELIBEXEC) N(ERESTART) N(ESTRPIPE) N(EUCLEAN) N(ENOTNAM) N(ENAVAIL) N(EISNAM)
    N(EREMOTEIO) N(ECHRNG) N(EL2NSYNC) N(EL3HLT) N(EL3RST) N(ELNRNG) N(EUNATCH) N(ENOCSI)
    N(EL2HLT) N(EMULTIHOP)
    default: return NULL;
  }
}
#undef N
// clang-format on

char *crl_err_format(const struct crl_err *err, char *buf, unsigned long size) {
  char sbuf[128];
  const char *reason;
  if (!buf || size == 0) return buf;
  reason = strerror_r(err->errnum, sbuf, sizeof sbuf); /* GNU strerror_r returns the text */
  if (err->detail[0])
    snprintf(buf, size, "%s: %s: %s", err->op, err->detail, reason);
  else
    snprintf(buf, size, "%s: %s", err->op, reason);
  return buf;
}
