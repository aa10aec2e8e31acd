/**
 * Errors from the native addon. Every failing native call throws a NativeError: `code` is the
 * errno name (`EEXIST`, `ENOENT`, `EPERM`, ...), `errno` its number, `op` the operation that
 * failed (`mount`, `unshare`, ...), `detail` what it was applied to, and the message reads
 * "op: detail: strerror". Callers branch on `code`, never on the message.
 */
import { CorralError, systemCode } from '../common/errors.ts';

export interface NativeErrorFields {
  code: string;
  errno: number;
  op: string;
  detail: string;
}

export class NativeError extends CorralError {
  readonly errno: number;
  readonly op: string;
  readonly detail: string;

  constructor(message: string, fields: NativeErrorFields) {
    super(systemCode(fields.code), message);
    this.name = 'NativeError';
    this.errno = fields.errno;
    this.op = fields.op;
    this.detail = fields.detail;
  }
}

/** True if `e` is a NativeError, and (when `code` is given) one with that code. */
export function isNativeError(e: unknown, code?: string): e is NativeError {
  return e instanceof NativeError && (code === undefined || e.code === code);
}
