/** parseZkUrl: the URL forms of mesos-api.md §7.1 and one clear refusal per kind of bad input. */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../../../lib/common/errors.ts';
import { isZkUrl, parseZkUrl } from '../../../lib/transport/zookeeper/url.ts';

test('servers and path', (t) => {
  const u = parseZkUrl('zk://h1:2181,h2:2182,10.0.0.3:2183/mesos', '--zk');
  t.deepEqual(u.servers, ['h1:2181', 'h2:2182', '10.0.0.3:2183']);
  t.is(u.path, '/mesos');
  t.is(u.credentials, undefined);
  t.is(u.redacted, 'zk://h1:2181,h2:2182,10.0.0.3:2183/mesos');
  t.deepEqual(parseZkUrl('  zk://h1/a/b-c_d.e  ', '--zk').servers, ['h1:2181'], 'a missing port is 2181; blanks around are ignored');
  t.is(parseZkUrl('zk://h1/a/b-c_d.e', '--zk').path, '/a/b-c_d.e');
});

test('credentials before the last @, redacted in the text for logs', (t) => {
  const u = parseZkUrl('zk://jo:s3cr@t:x@h1:1,h2:2/corral', '--zk');
  t.deepEqual(u.credentials, { user: 'jo', password: 's3cr@t:x' });
  t.deepEqual(u.servers, ['h1:1', 'h2:2']);
  t.is(u.redacted, 'zk://jo:****@h1:1,h2:2/corral');
});

test('file:// holds the URL and is read once', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'corral-zkurl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'zk');
  writeFileSync(file, 'zk://a:1,b:2/m\n');
  t.deepEqual(parseZkUrl(`file://${file}`, '--master').servers, ['a:1', 'b:2']);
  writeFileSync(file, 'a:1');
  const e = t.throws(() => parseZkUrl(`file://${file}`, '--master'), { instanceOf: ValidationError });
  t.regex(e.message, /^--master: .* must hold a ZooKeeper URL/);
  t.regex(t.throws(() => parseZkUrl(`file://${join(dir, 'nope')}`, '--zk')).message, /^--zk: cannot read .*nope/);
});

test('isZkUrl tells a ZooKeeper URL from host:port', (t) => {
  t.true(isZkUrl('zk://h:1/p'));
  t.true(isZkUrl('file:///etc/zk'));
  t.false(isZkUrl('127.0.0.1:5050'));
  t.false(isZkUrl('master@127.0.0.1:5050'));
});

const bad: [string, RegExp][] = [
  ['', /is empty/],
  ['h1:2181/mesos', /is not a ZooKeeper URL/],
  ['http://u:secret@h1/x', /is not a ZooKeeper URL/],
  ['zk://h1:2181', /needs a znode path/],
  ['zk://h1:2181/', /needs a znode path/],
  ['zk:///mesos', /names no ZooKeeper server/],
  ['zk://h1:2181,,h2:2181/m', /server 2 is empty/],
  ['zk://h1:0/m', /port '0' is not a number from 1 to 65535/],
  ['zk://h1:99999/m', /port '99999'/],
  ['zk://h1:x/m', /port 'x'/],
  ['zk://h1:1:2/m', /must be host:port/],
  ['zk://[::1]:2181/m', /IPv6/],
  ['zk://h_1!:2181/m', /is not a host name/],
  ['zk://h1/m/', /must not end with '\/'/],
  ['zk://h1/a//b', /empty component/],
  ['zk://h1/a/../b', /'\.' or '\.\.'/],
  ['zk://h1/zookeeper/x', /reserves/],
  ['zk://userpass@h1/m', /credentials must be user:password/],
  ['zk://:p@h1/m', /user before the password is empty/],
  ['zk://u:@h1/m', /password of user 'u' is empty/],
  ['file://', /names no file/],
];
for (const [value, reason] of bad) {
  test(`refused: '${value}'`, (t) => {
    const e = t.throws(() => parseZkUrl(value, '--zk'), { instanceOf: ValidationError });
    t.is(e.field, '--zk');
    t.true(e.message.startsWith('--zk: '), e.message);
    t.regex(e.message, reason);
    t.false(e.message.includes('secret'), 'no password in the message');
  });
}
