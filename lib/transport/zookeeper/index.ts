/** ZooKeeper: URLs, sessions (with a lease), leader election and detection (mesos-api.md §7). */
export { ZK_DEFAULT_PORT, isZkUrl, parseZkUrl } from './url.ts';
export type { ZkCredentials, ZkUrl } from './url.ts';
export { ZkError, ZkSession } from './session.ts';
export type { ZkCreateMode, ZkData, ZkOp, ZkOpResult, ZkSessionOptions, ZkState, ZkWatchEvent, ZkWatcher } from './session.ts';
export { ZkContender, ZkMasterDetector, createMasterDetector, parseMasterLocation } from './group.ts';
export type { MasterDetectorOptions, MasterLocation, ZkContenderOptions, ZkMasterDetectorOptions } from './group.ts';
export { CANDIDACY_PREFIX, decodeMember, lowestMember, masterInfoHostPort, parseMember } from './members.ts';
export type { Member } from './members.ts';
