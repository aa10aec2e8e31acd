/*
 * The error contract of the native core (docs/architecture.md §4).
 *
 * Every core function that can fail takes a `struct crl_err *` as its last argument, returns a
 * negative int on failure (minus the errno) and fills the struct: the errno, the operation
 * that failed ("mount", "unshare", ...) and a detail (usually the object: a path, a name).
 * Core code never prints, never exits, and releases every fd and allocation on every path.
 *
 * Plain C: no Node headers here, so the same code serves the addon and the C executables.
 */
#ifndef CRL_ERR_H
#define CRL_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#define CRL_ERR_OP_MAX 64
#define CRL_ERR_DETAIL_MAX 256

struct crl_err {
  int errnum;                      /* errno value, > 0 once set */
  char op[CRL_ERR_OP_MAX];         /* the operation, e.g. "mount" */
  char detail[CRL_ERR_DETAIL_MAX]; /* what it was applied to, e.g. "/run/netns/x" */
};

/* Reset to "no error". */
void crl_err_clear(struct crl_err *err);

/*
 * Record a failure and return -errnum (or -EIO if errnum <= 0), so that call sites read
 * `return crl_err_set(err, errno, "mount", "%s", path);`. `err` may be NULL. The detail is a
 * printf format; it is truncated to fit. errno is preserved across the call.
 */
int crl_err_set(struct crl_err *err, int errnum, const char *op, const char *detail_fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The symbolic name of an errno value ("ENOENT"), or NULL if it has none. */
const char *crl_errno_name(int errnum);

/*
 * The full message: "op: detail: strerror" ("op: strerror" when detail is empty).
 * Always NUL-terminates `buf` (size > 0). Returns `buf`.
 */
char *crl_err_format(const struct crl_err *err, char *buf, unsigned long size);

#ifdef __cplusplus
}
#endif

#endif /* CRL_ERR_H */
