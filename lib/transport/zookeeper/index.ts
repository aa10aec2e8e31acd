/** ZooKeeper: URLs, sessions (with a lease), leader election and detection (mesos-api.md §7). */
export { ZK_DEFAULT_PORT, isZkUrl, parseZkUrl } from './url.ts';
export type { ZkCredentials, ZkUrl } from './url.ts';
export { ZkError, ZkSession } from './session.ts';
export type { ZkCreateMode, ZkData, ZkOp, ZkOpResult, ZkSessionOptions, ZkState, ZkWatchEvent, ZkWatcher } from './session.ts';
export {
  CANDIDACY_PREFIX,
  ZkContender,
  ZkMasterDetector,
  createMasterDetector,
  decodeMember,
  lowestMember,
  masterInfoHostPort,
  parseMasterLocation,
  parseMember,
} from './group.ts';
export type { MasterDetectorOptions, MasterLocation, Member, ZkContenderOptions, ZkMasterDetectorOptions } from './group.ts';
