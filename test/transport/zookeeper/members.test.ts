/** The election path's children (mesos-api.md §7.3) without a ZooKeeper: names, the lowest, decoding by label, addresses, --master values. */
import test from 'ava';
import { CorralError, ValidationError } from '../../../lib/common/errors.ts';
import { masterInfoIp } from '../../../lib/proto/common_messages.ts';
import type { MasterInfo } from '../../../lib/proto/messages.ts';
import { FixedMasterDetector } from '../../../lib/transport/leader.ts';
import { ZkMasterDetector, createMasterDetector, parseMasterLocation } from '../../../lib/transport/zookeeper/group.ts';
import { decodeMember, lowestMember, masterInfoHostPort, parseMember } from '../../../lib/transport/zookeeper/members.ts';
import { decodeMasterInfoProtobuf } from '../../../lib/transport/zookeeper/master_info_pb.ts';
import { encodeMasterInfoProtobuf } from './master_info_pb.ts';

const m1: MasterInfo = {
  id: '5b6f9c7e',
  ip: masterInfoIp('10.0.0.5'),
  port: 5050,
  pid: 'master@10.0.0.5:5050',
  hostname: 'm1.example',
  version: '1.11.0',
  address: { hostname: 'm1.example', ip: '10.0.0.5', port: 5050 },
};

test('child names: <label>_<digits> or bare digits are members; others are not', (t) => {
  t.deepEqual(parseMember('json.info_0000000003'), { name: 'json.info_0000000003', label: 'json.info', sequence: 3 });
  t.deepEqual(parseMember('info_0000000012'), { name: 'info_0000000012', label: 'info', sequence: 12 });
  t.deepEqual(parseMember('0000000007'), { name: '0000000007', label: '', sequence: 7 });
  for (const other of ['log_replicas', 'registry', 'json.info_', 'json.info_12a', '']) t.is(parseMember(other), undefined, other);
  t.is(lowestMember(['log_replicas', 'json.info_0000000010', 'info_0000000004', 'json.info_0000000005'])?.name, 'info_0000000004');
  t.is(lowestMember(['registry', 'log_replicas']), undefined);
  t.is(lowestMember([]), undefined);
});

test('the example payload of the spec decodes, and the address comes from address.ip', (t) => {
  const json =
    '{"id":"5b6f9c7e-3c1a-4c8e-9a0e-0d2f1c2b3a4d","ip":83886090,"port":5050,"pid":"master@10.0.0.5:5050","hostname":"m1.example","version":"1.11.0",' +
    '"address":{"hostname":"m1.example","ip":"10.0.0.5","port":5050},"capabilities":[{"type":"AGENT_UPDATE"}]}';
  const l = decodeMember(parseMember('json.info_0000000003')!, Buffer.from(json));
  t.is(l.id, '5b6f9c7e-3c1a-4c8e-9a0e-0d2f1c2b3a4d');
  t.is(l.hostPort, '10.0.0.5:5050');
  t.is(l.info?.ip, 83886090);
});

test('address fallbacks: address.hostname, then pid, then hostname, then the packed ip', (t) => {
  t.is(masterInfoHostPort(m1), '10.0.0.5:5050');
  t.is(masterInfoHostPort({ ...m1, address: { hostname: 'm1.example', port: 5051 } }), 'm1.example:5051');
  const { address: _a, ...noAddress } = m1;
  t.is(masterInfoHostPort({ ...noAddress, pid: 'master@10.0.0.6:5052' }), '10.0.0.6:5052');
  const { pid: _p, ...noPid } = noAddress;
  t.is(masterInfoHostPort(noPid), 'm1.example:5050');
  const { hostname: _h, ...bare } = noPid;
  t.is(masterInfoHostPort(bare), '10.0.0.5:5050');
});

test('0.23 binary MasterInfo (info_) and bare pids decode', (t) => {
  const bytes = Buffer.from(encodeMasterInfoProtobuf(m1));
  t.deepEqual(decodeMasterInfoProtobuf(bytes), m1);
  t.deepEqual(decodeMember(parseMember('info_0000000001')!, bytes), { id: m1.id, hostPort: '10.0.0.5:5050', info: m1 });
  t.deepEqual(decodeMember(parseMember('0000000001')!, Buffer.from('master@10.0.0.7:5050')), { id: '', hostPort: '10.0.0.7:5050' });
});

test('data that does not decode is an error saying why', (t) => {
  const e = t.throws(() => decodeMember(parseMember('json.info_0000000001')!, Buffer.from('{"id":'), '/corral/json.info_0000000001'), {
    instanceOf: CorralError,
  });
  t.is(e.code, 'ZOOKEEPER_BAD_ZNODE');
  t.is(e.field, '/corral/json.info_0000000001');
  t.regex(e.message, /^\/corral\/json\.info_0000000001: MasterInfo \(JSON\): is not JSON/);
  t.throws(() => decodeMember(parseMember('json.info_0000000001')!, Buffer.from('{"id":"x"}')), { message: /json\.info_0000000001/ });
  t.throws(() => decodeMember(parseMember('info_0000000001')!, Buffer.from([0x0a, 0x05, 0x61])), { message: /truncated/ });
  t.throws(() => decodeMember(parseMember('info_0000000001')!, Buffer.from([0x0a, 0x01, 0x61])), { message: /required field ip is missing/ });
  t.throws(() => decodeMember(parseMember('0000000001')!, Buffer.from('garbage')), { message: /is not a pid/ });
  t.throws(() => decodeMember(parseMember('other_0000000001')!, Buffer.from('x')), { message: /label 'other'/ });
});

test('--master values: zk://, file://, host:port, master@host:port; anything else names the flag', (t) => {
  t.deepEqual(parseMasterLocation('127.0.0.1:5050', '--master'), { hostPort: '127.0.0.1:5050' });
  t.deepEqual(parseMasterLocation('master@m1:5050', '--master'), { hostPort: 'm1:5050' });
  const zk = parseMasterLocation('zk://a:1,b:2/mesos', '--master');
  t.true('zk' in zk && zk.zk.path === '/mesos');
  for (const bad of ['m1', 'm1:port', 'http://m1:5050']) {
    const e = t.throws(() => parseMasterLocation(bad, '--master'), { instanceOf: ValidationError });
    t.regex(e.message, /^--master: '.*' is neither host:port, master@host:port nor a ZooKeeper URL/);
  }
  t.throws(() => parseMasterLocation('zk://a:1', '--master'), { message: /^--master: needs a znode path/ });
  t.true(createMasterDetector('m1:5050', { field: '--master' }) instanceof FixedMasterDetector);
  t.true(createMasterDetector('zk://a:1/m', { field: '--master' }) instanceof ZkMasterDetector);
  t.throws(() => createMasterDetector('zk://a:1/', { field: '--master' }), { instanceOf: ValidationError });
});
