/**
 * A streaming reader of tar archives as image layers write them: POSIX ustar, pax extended
 * headers (path, linkpath, size, uid, gid, mtime) and GNU long names and links. Each header's
 * checksum is checked; a header that does not add up, a size that is not a number or an archive
 * that ends inside an entry is a TarError naming the entry. Pure: it reads bytes and yields
 * entries; what to do with them is layer.ts's business.
 */

export class TarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarError';
  }
}

export type TarType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export interface TarEntry {
  /** As written in the archive (pax or GNU long name applied), not normalised. */
  readonly name: string;
  readonly type: TarType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
}

const BLOCK = 512;

const TYPES: Record<string, TarType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
};

/** Reads exact byte counts from an async iterable of chunks; every byte read is also passed to `observe`. */
export class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    }
    return this.buf.length >= n;
  }

  /** Exactly n bytes, or undefined at the end of the stream (a short tail is returned as undefined too: the caller says what was cut). */
  async read(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) {
      if (this.buf.length > 0) throw new TarError(`the archive ends inside a header (${this.buf.length} of ${n} bytes)`);
      return undefined;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** n bytes as they arrive, in chunks; throws TarError if the stream ends first. */
  async *take(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0) {
        if (this.done) throw new TarError(`the archive ends inside ${what}`);
        const r = await this.it.next();
        if (r.done) {
          this.done = true;
          continue;
        }
        this.buf = r.value;
      }
      const piece = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(piece.length);
      left -= piece.length;
      yield piece;
    }
  }

  /** Drop up to n bytes; false when the stream ended first. */
  async skipUpTo(n: number): Promise<boolean> {
    const ok = await this.fill(n);
    this.buf = this.buf.subarray(Math.min(n, this.buf.length));
    return ok;
  }

  /** Read and drop everything left. */
  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (!this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
    }
  }
}

function text(b: Buffer, start: number, len: number): string {
  const field = b.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function number(b: Buffer, start: number, len: number, field: string, entry: string): number {
  const f = b.subarray(start, start + len);
  if (f[0]! & 0x80) {
    // GNU base-256: big-endian, the top bit of the first byte is the marker.
    let v = f[0]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + f[i]!;
    if (!Number.isSafeInteger(v)) throw new TarError(`entry '${entry}': its ${field} is too large`);
    return v;
  }
  const s = f.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError(`entry '${entry}': its ${field} '${s}' is not an octal number`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  const s = h.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim();
  return /^[0-7]+$/.test(s) && parseInt(s, 8) === sum;
}

/** pax records: "<len> <key>=<value>\n". */
function paxRecords(data: Buffer, entry: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(data.subarray(i, sp).toString('latin1'));
    if (!Number.isInteger(len) || len <= sp - i || i + len > data.length) throw new TarError(`entry '${entry}': a bad pax record`);
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

const pad = (n: number): number => (BLOCK - (n % BLOCK)) % BLOCK;

/**
 * The entries of a tar archive, in order. For a file, `body(entry)` must be consumed (or not:
 * what is left is skipped) before the next entry is asked for.
 */
export async function* readTar(reader: ByteReader): AsyncGenerator<{ entry: TarEntry; body: AsyncGenerator<Buffer> }> {
  let pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  let zeros = 0;
  for (;;) {
    const h = await reader.read(BLOCK);
    // The end of the stream at an entry's boundary ends the archive, with or without the two zero
    // blocks (layers written by Go's archive/tar without Close() have none; Docker reads them).
    if (h === undefined) return;
    if (h.every((b) => b === 0)) {
      if (++zeros === 2) return;
      continue;
    }
    zeros = 0;
    const rawName = text(h, 0, 100);
    if (!checksumOk(h)) throw new TarError(`the header after '${rawName || '(start)'}' has a bad checksum (not a tar archive, or a damaged one)`);
    const flag = String.fromCharCode(h[156]!);
    const magic = h.subarray(257, 263).toString('latin1');
    const prefix = magic === 'ustar\0' ? text(h, 345, 155) : '';
    const name0 = prefix ? `${prefix}/${rawName}` : rawName;
    const size = pax.has('size') ? Number(pax.get('size')) : number(h, 124, 12, 'size', name0);
    if (!Number.isSafeInteger(size) || size < 0) throw new TarError(`entry '${name0}': a bad size`);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > 16 << 20) throw new TarError(`entry '${name0}': a ${flag} header of ${size} bytes (more than 16 MiB)`);
      const chunks: Buffer[] = [];
      for await (const c of reader.take(size + pad(size), `the ${flag} header of '${name0}'`)) chunks.push(c);
      const data = Buffer.concat(chunks).subarray(0, size);
      if (flag === 'x') pax = paxRecords(data, name0);
      else if (flag === 'L') longName = data.toString('utf8').replace(/\0.*$/s, '');
      else if (flag === 'K') longLink = data.toString('utf8').replace(/\0.*$/s, '');
      // 'g' (global pax headers) carry nothing an image layer needs.
      continue;
    }
    const type = TYPES[flag];
    const name = pax.get('path') ?? longName ?? name0;
    if (type === undefined) throw new TarError(`entry '${name}': an entry type '${flag}' that image layers do not use`);
    const num = (key: string, start: number, len: number): number => {
      const v = pax.get(key);
      if (v === undefined) return number(h, start, len, key, name);
      const n = Math.floor(Number(v));
      if (!Number.isSafeInteger(n) || n < 0) throw new TarError(`entry '${name}': a bad pax ${key} '${v}'`);
      return n;
    };
    const entry: TarEntry = {
      name,
      type,
      mode: number(h, 100, 8, 'mode', name),
      uid: num('uid', 108, 8),
      gid: num('gid', 116, 8),
      size: type === 'file' ? size : 0,
      mtime: num('mtime', 136, 12),
      linkname: pax.get('linkpath') ?? longLink ?? text(h, 157, 100),
      devmajor: number(h, 329, 8, 'devmajor', name),
      devminor: number(h, 337, 8, 'devminor', name),
    };
    pax = new Map();
    longName = undefined;
    longLink = undefined;
    let consumed = 0;
    const body = (async function* (): AsyncGenerator<Buffer> {
      for await (const c of reader.take(size, `the contents of '${name}'`)) {
        consumed += c.length;
        yield c;
      }
    })();
    yield { entry, body };
    // Skip what the consumer left of the body (also when it stopped reading half-way), then the
    // padding, which the last entry of a layer written without Close() lacks.
    for await (const _ of reader.take(size - consumed, `the contents of '${name}'`)) void _;
    if (!(await reader.skipUpTo(pad(size)))) return;
  }
}
