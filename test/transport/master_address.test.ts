/** `--master` values: host:port, master@host:port, zk:// URLs; refusals name the field; passwords are not shown. */
import test from 'ava';
import { isZkAddress, parseMasterAddress, redactMasterAddress } from '../../lib/transport/index.ts';

test('host:port and master@host:port name one master', (t) => {
  t.is(parseMasterAddress(' m1:5050 ', '--master'), 'm1:5050');
  t.is(parseMasterAddress('master@10.0.0.5:5050', '--master'), '10.0.0.5:5050');
  t.false(isZkAddress('m1:5050'));
});

test('zk:// URLs are kept as given once their shape is right', (t) => {
  for (const url of ['zk://h1:2181/corral', 'zk://h1:2181,h2:2181,h3:2181/corral/prod', 'zk://user:pa:ss@h1:2181/corral']) {
    t.is(parseMasterAddress(url, '--master'), url);
    t.true(isZkAddress(url));
  }
});

test('bad values are refused naming the field and the reason, without the password', (t) => {
  const cases: [string, RegExp][] = [
    ['localhost', /^--master: 'localhost' is not host:port, master@host:port or zk:\/\//],
    ['zk://', /names no ZooKeeper server/],
    ['zk://h1:2181', /needs a znode path/],
    ['zk://h1:2181/', /needs a znode path/],
    ['zk://h1:2181/a/', /needs a znode path/],
    ['zk://h1,h2:2181/corral', /'h1' in .* is not host:port/],
    ['zk://u:hunter2@h1:99999/corral', /'h1:99999' in 'zk:\/\/u:\*\*\*@h1:99999\/corral' is not host:port/],
  ];
  for (const [value, message] of cases) {
    const e = t.throws(() => parseMasterAddress(value, '--master'), { message });
    t.false(e?.message.includes('hunter2'), value);
  }
});

test('redactMasterAddress hides the password only', (t) => {
  t.is(redactMasterAddress('zk://u:hunter2@h1:2181/corral'), 'zk://u:***@h1:2181/corral');
  t.is(redactMasterAddress('zk://h1:2181/corral'), 'zk://h1:2181/corral');
  t.is(redactMasterAddress('m1:5050'), 'm1:5050');
});
