/**
 * Mesos's RecordIO framing: each record is its decimal ASCII byte count, a LF, then exactly
 * that many bytes. No separator after the payload; a count is never 0. Used by the scheduler,
 * executor and operator event streams (and streaming operator requests).
 */
import { ValidationError } from '../common/errors.ts';

/** Default largest record a decoder accepts: 64 MiB. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;

const LF = 0x0a;
const ZERO = 0x30;
const NINE = 0x39;

function recordIoError(reason: string): ValidationError {
  return new ValidationError('recordio', reason);
}

/** Frame one record: `<byte count>\n<bytes>`, as one buffer (so it can be written as one chunk). */
export function encodeRecord(payload: string | Buffer): Buffer {
  if (typeof payload === 'string') {
    const n = Buffer.byteLength(payload, 'utf8');
    if (n === 0) throw recordIoError('a record must not be empty (the byte count is never 0)');
    const prefix = `${n}\n`;
    const out = Buffer.allocUnsafe(prefix.length + n);
    out.write(prefix, 0, 'latin1');
    out.write(payload, prefix.length, 'utf8');
    return out;
  }
  const n = payload.length;
  if (n === 0) throw recordIoError('a record must not be empty (the byte count is never 0)');
  const prefix = `${n}\n`;
  const out = Buffer.allocUnsafe(prefix.length + n);
  out.write(prefix, 0, 'latin1');
  payload.copy(out, prefix.length);
  return out;
}

export interface RecordIoDecoderOptions {
  /** Largest accepted record in bytes (default 64 MiB). A longer count is an error at once. */
  maxRecordBytes?: number;
}

/**
 * Incremental decoder. Feed it chunks split anywhere (inside the length prefix, inside a
 * multi-byte UTF-8 character, several records per chunk) and it returns every record completed
 * so far. An error is sticky: once the input is known to be bad, every later call throws it.
 */
export class RecordIoDecoder {
  private readonly max: number;
  private readonly maxDigits: number;
  /** Offset of the next byte in the whole input, for error messages. */
  private offset = 0;
  /** Reading the length prefix: digits seen and their value. */
  private digits = 0;
  private length = 0;
  /** Reading a payload: parts gathered and how many bytes they hold. */
  private inPayload = false;
  private parts: Buffer[] = [];
  private have = 0;
  private failed: ValidationError | undefined;

  constructor(options: RecordIoDecoderOptions = {}) {
    const max = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new ValidationError('maxRecordBytes', `must be a positive safe integer, got ${max}`);
    }
    this.max = max;
    this.maxDigits = String(max).length;
  }

  /** Bytes received that do not yet form a complete record. */
  get pendingBytes(): number {
    return this.inPayload ? this.have : this.digits;
  }

  /** Feed one chunk; returns the records it completed, in order (possibly none). */
  push(chunk: Uint8Array): Buffer[] {
    if (this.failed) throw this.failed;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: Buffer[] = [];
    let i = 0;
    const n = buf.length;
    while (i < n) {
      if (!this.inPayload) {
        const b = buf[i]!;
        if (b === LF) {
          if (this.digits === 0) return this.fail(`empty record length prefix at byte ${this.offset + i}`);
          if (this.length === 0) return this.fail(`record length 0 at byte ${this.offset + i} (a count is never 0)`);
          this.inPayload = true;
          this.have = 0;
          i++;
          continue;
        }
        if (b < ZERO || b > NINE) {
          return this.fail(`record length prefix has a non-digit byte 0x${b.toString(16).padStart(2, '0')} at byte ${this.offset + i}`);
        }
        this.digits++;
        this.length = this.length * 10 + (b - ZERO);
        // Leading zeros are tolerated, but not an unbounded run of them.
        if (this.length > this.max || this.digits > this.maxDigits + 8) {
          const shown = Number.isSafeInteger(this.length) ? String(this.length) : 'over 2^53';
          return this.fail(`record length ${shown} (so far) exceeds the maximum of ${this.max} bytes`);
        }
        i++;
        continue;
      }
      const want = this.length - this.have;
      const take = Math.min(want, n - i);
      if (take === want && this.have === 0) {
        // The whole payload is inside this chunk: no copy.
        out.push(buf.subarray(i, i + take));
      } else {
        this.parts.push(buf.subarray(i, i + take));
        this.have += take;
        if (this.have === this.length) {
          out.push(Buffer.concat(this.parts, this.length));
          this.parts = [];
        } else {
          i += take;
          continue;
        }
      }
      i += take;
      this.inPayload = false;
      this.digits = 0;
      this.length = 0;
      this.have = 0;
    }
    this.offset += n;
    return out;
  }

  /** The input has ended: throws if it stopped inside a record. */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.inPayload) {
      this.fail(`input ended inside a record: ${this.have} of ${this.length} bytes received`);
    }
    if (this.digits > 0) this.fail(`input ended inside a record length prefix`);
  }

  private fail(reason: string): never {
    this.failed = recordIoError(reason);
    this.parts = [];
    throw this.failed;
  }
}

/** Decode a complete RecordIO byte string (all records, or an error). */
export function decodeRecords(data: Uint8Array, options: RecordIoDecoderOptions = {}): Buffer[] {
  const d = new RecordIoDecoder(options);
  const out = d.push(data);
  d.end();
  return out;
}
