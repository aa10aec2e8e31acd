/** What a Mesos 0.23 master writes into an `info_<seq>` znode: its MasterInfo as binary protobuf (for the detection tests). */
import type { MasterInfo } from '../../../lib/proto/messages.ts';

export function encodeMasterInfoProtobuf(m: MasterInfo): Uint8Array {
  const varint = (out: number[], v: number): void => {
    let n = v;
    while (n >= 0x80) {
      out.push((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
  };
  const str = (out: number[], field: number, s: string): void => {
    const b = new TextEncoder().encode(s);
    varint(out, field * 8 + 2);
    varint(out, b.length);
    out.push(...b);
  };
  const num = (out: number[], field: number, v: number): void => {
    varint(out, field * 8);
    varint(out, v);
  };
  const out: number[] = [];
  str(out, 1, m.id);
  num(out, 2, m.ip >>> 0);
  num(out, 3, m.port);
  if (m.pid !== undefined) str(out, 4, m.pid);
  if (m.hostname !== undefined) str(out, 5, m.hostname);
  if (m.version !== undefined) str(out, 6, m.version);
  if (m.address) {
    const inner: number[] = [];
    if (m.address.hostname !== undefined) str(inner, 1, m.address.hostname);
    if (m.address.ip !== undefined) str(inner, 2, m.address.ip);
    num(inner, 3, m.address.port);
    varint(out, 7 * 8 + 2);
    varint(out, inner.length);
    out.push(...inner);
  }
  return Uint8Array.from(out);
}
