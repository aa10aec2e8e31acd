/**
 * The children of the election path (mesos-api.md §7.2–7.3), as pure functions: which names are
 * members, which one leads, what its data says and where to reach it.
 */
import { CorralError, ValidationError, describeError } from '../../common/errors.ts';
import { decodeMasterInfo } from '../../proto/common_messages.ts';
import type { MasterInfo } from '../../proto/messages.ts';
import type { LeaderAddress } from '../leader.ts';
import { decodeMasterInfoProtobuf } from './master_info_pb.ts';

/** The name prefix of a candidacy (Mesos 0.24+); ZooKeeper appends a 10-digit sequence. */
export const CANDIDACY_PREFIX = 'json.info_';

/** A child name of the election path that is a member: `<label>_<digits>` or bare digits. */
export interface Member {
  readonly name: string;
  /** `json.info`, `info`, or '' for a bare sequence. */
  readonly label: string;
  readonly sequence: number;
}

/** Parse a child name (§7.3): the last `_`-separated token must be a sequence number; other names (`log_replicas`, `registry`) are not members. */
export function parseMember(name: string): Member | undefined {
  const underscore = name.lastIndexOf('_');
  const digits = underscore < 0 ? name : name.slice(underscore + 1);
  if (!/^\d+$/.test(digits)) return undefined;
  return { name, label: underscore < 0 ? '' : name.slice(0, underscore), sequence: Number(digits) };
}

/** The member with the lowest sequence (the leader), or undefined when there is none. */
export function lowestMember(children: readonly string[]): Member | undefined {
  let best: Member | undefined;
  for (const c of children) {
    const m = parseMember(c);
    if (m && (best === undefined || m.sequence < best.sequence)) best = m;
  }
  return best;
}

/** Where to reach a master from what it published (§7.3 step 5): address.ip, else address.hostname, with address.port; else pid; else hostname or ip with port. */
export function masterInfoHostPort(info: MasterInfo): string {
  const a = info.address;
  if (a && (a.ip || a.hostname)) return `${a.ip || a.hostname}:${a.port}`;
  const fromPid = info.pid ? hostPortOfPid(info.pid) : undefined;
  if (fromPid) return fromPid;
  if (info.hostname) return `${info.hostname}:${info.port}`;
  const ip = info.ip >>> 0;
  return `${ip & 0xff}.${(ip >>> 8) & 0xff}.${(ip >>> 16) & 0xff}.${ip >>> 24}:${info.port}`;
}

function hostPortOfPid(pid: string): string | undefined {
  const m = /^[^@]+@([^:@\s]+):(\d{1,5})$/.exec(pid.trim());
  return m ? `${m[1]}:${m[2]}` : undefined;
}

/**
 * Decode a member's data by its label (§7.3 step 4). Data that does not decode is a CorralError
 * (ZOOKEEPER_BAD_ZNODE) whose message starts with `where` (the znode's path) and says why.
 */
export function decodeMember(member: Member, data: Buffer, where: string = member.name): LeaderAddress {
  try {
    return decodeByLabel(member, data);
  } catch (e) {
    throw new CorralError('ZOOKEEPER_BAD_ZNODE', `${where}: ${describeError(e)}`, { field: where, cause: e });
  }
}

function decodeByLabel(member: Member, data: Buffer): LeaderAddress {
  if (member.label === 'json.info') {
    let json: unknown;
    try {
      json = JSON.parse(data.toString('utf8'));
    } catch (e) {
      throw new ValidationError('MasterInfo (JSON)', `is not JSON: ${describeError(e)}`);
    }
    const info = decodeMasterInfo(json, 'MasterInfo');
    return { id: info.id, hostPort: masterInfoHostPort(info), info };
  }
  if (member.label === 'info') {
    const info = decodeMasterInfoProtobuf(data);
    return { id: info.id, hostPort: masterInfoHostPort(info), info };
  }
  if (member.label === '') {
    const pid = data.toString('utf8').trim();
    const hostPort = hostPortOfPid(pid);
    if (!hostPort) throw new ValidationError('pid', `'${pid.slice(0, 100)}' is not a pid (master@ip:port)`);
    return { id: '', hostPort };
  }
  throw new ValidationError(`label '${member.label}'`, 'is not one a master writes (json.info, info)');
}
