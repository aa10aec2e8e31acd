/**
 * The binary protobuf `MasterInfo` that Mesos 0.23 and earlier wrote into `info_<seq>` znodes
 * (mesos-api.md §7.2): only decoded, so that a detector still finds such a master. Fields:
 * 1 id, 2 ip (uint32), 3 port (uint32), 4 pid, 5 hostname, 6 version, 7 address {1 hostname,
 * 2 ip, 3 port}; others are skipped.
 */
import { ValidationError } from '../../common/errors.ts';
import type { Address, MasterInfo } from '../../proto/messages.ts';

const fail = (reason: string): ValidationError => new ValidationError('MasterInfo (protobuf)', reason);

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly end = buf.length,
  ) {}

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw fail('truncated varint');
      const b = this.buf[this.pos++]!;
      if (shift < 49) result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw fail('varint longer than 10 bytes');
    }
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.end) throw fail('truncated length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.bytes();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw fail(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw fail('truncated fixed-width field');
  }
}

const text = (b: Uint8Array): string => new TextDecoder('utf-8', { fatal: true }).decode(b);

function readAddress(bytes: Uint8Array): Address {
  const r = new Reader(bytes);
  let hostname: string | undefined;
  let ip: string | undefined;
  let port: number | undefined;
  while (!r.done()) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 1 && wire === 2) hostname = text(r.bytes());
    else if (field === 2 && wire === 2) ip = text(r.bytes());
    else if (field === 3 && wire === 0) port = r.varint() | 0;
    else r.skip(wire);
  }
  if (port === undefined) throw fail('address.port is missing');
  return { ...(hostname !== undefined ? { hostname } : {}), ...(ip !== undefined ? { ip } : {}), port };
}

/** Decode a binary MasterInfo; a ValidationError says what is wrong. */
export function decodeMasterInfoProtobuf(bytes: Uint8Array): MasterInfo {
  const r = new Reader(bytes);
  const out: { -readonly [K in keyof MasterInfo]: MasterInfo[K] } = { id: '', ip: 0, port: 5050 };
  let sawId = false;
  let sawIp = false;
  while (!r.done()) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 0) throw fail('field number 0');
    if (field === 1 && wire === 2) {
      out.id = text(r.bytes());
      sawId = true;
    } else if (field === 2 && wire === 0) {
      out.ip = r.varint() >>> 0;
      sawIp = true;
    } else if (field === 3 && wire === 0) out.port = r.varint() >>> 0;
    else if (field === 4 && wire === 2) out.pid = text(r.bytes());
    else if (field === 5 && wire === 2) out.hostname = text(r.bytes());
    else if (field === 6 && wire === 2) out.version = text(r.bytes());
    else if (field === 7 && wire === 2) out.address = readAddress(r.bytes());
    else r.skip(wire);
  }
  if (!sawId || !sawIp) throw fail(`required field${!sawId && !sawIp ? 's id and ip are' : sawId ? ' ip is' : ' id is'} missing`);
  return out;
}
