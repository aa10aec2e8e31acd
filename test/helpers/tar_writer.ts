/**
 * Writing tar archives byte by byte for tests of the layer unpacker: any name, type and link,
 * including the ones a careful tool would refuse to write (`../x`, `/etc/x`, a file below a
 * symlink), which is what the tests need.
 */
export interface TarSpec {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'fifo';
  data?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  /** Put the name in a pax header instead of the ustar fields (for long names). */
  pax?: boolean;
}

const FLAG = { file: '0', hardlink: '1', symlink: '2', char: '3', dir: '5', fifo: '6' } as const;

function header(name: string, flag: string, size: number, e: TarSpec): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number): void => void h.write(s.slice(0, len), off, len, 'utf8');
  const oct = (n: number, off: number, len: number): void => put(n.toString(8).padStart(len - 1, '0'), off, len - 1);
  put(name, 0, 100);
  oct(e.mode ?? (flag === '5' ? 0o755 : 0o644), 100, 8);
  oct(e.uid ?? 0, 108, 8);
  oct(e.gid ?? 0, 116, 8);
  oct(size, 124, 12);
  oct(e.mtime ?? 1700000000, 136, 12);
  h.write(flag, 156, 1, 'latin1');
  put(e.linkname ?? '', 157, 100);
  h.write('ustar\0', 257, 6, 'latin1');
  h.write('00', 263, 2, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);

export function tarOf(entries: TarSpec[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const flag = FLAG[e.type ?? 'file'];
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
    if (e.pax) {
      const rec = (k: string, v: string): string => {
        const body = ` ${k}=${v}\n`;
        let len = body.length + String(body.length).length;
        if (String(len).length !== String(len - 1).length) len++;
        return `${len}${body}`;
      };
      const paxData = Buffer.from(rec('path', e.name));
      out.push(header('PaxHeader', 'x', paxData.length, {} as TarSpec), paxData, pad(paxData.length));
    }
    out.push(header(e.pax ? 'placeholder' : e.name, flag, flag === '0' ? data.length : 0, e));
    if (flag === '0') out.push(data, pad(data.length));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}
