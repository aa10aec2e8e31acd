/**
 * The HS256 JWTs of executor authentication: RFC 7515's own HS256 example verifies (so tokens
 * are standard ones, as Mesos's), and tampered, re-signed-with-another-key, unsigned (`alg` none)
 * and malformed tokens do not.
 */
import test from 'ava';
import { AuthenticationError } from '../../lib/transport/errors.ts';
import { parseBearer, signJwt, verifyJwt } from '../../lib/transport/jwt.ts';

// RFC 7515, appendix A.1: a JWS with HMAC SHA-256, and its key.
const RFC_TOKEN =
  'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const RFC_KEY = Buffer.from('AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow', 'base64url');

test("RFC 7515's HS256 example verifies; its string claims are read", (t) => {
  t.deepEqual(verifyJwt(RFC_TOKEN, RFC_KEY), { iss: 'joe' });
});

test('a token signed here verifies with its key and carries its claims', (t) => {
  const key = Buffer.from('k'.repeat(32));
  const token = signJwt({ fid: 'F-0000', eid: 'e1', cid: 'c1' }, key);
  t.deepEqual(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
  t.deepEqual(verifyJwt(token, key), { fid: 'F-0000', eid: 'e1', cid: 'c1' });
});

test('tampered, foreign, unsigned and malformed tokens are refused, each with its reason', (t) => {
  const key = Buffer.from('k'.repeat(32));
  const token = signJwt({ fid: 'F-0000', eid: 'e1', cid: 'c1' }, key);
  const [h, , s] = token.split('.');
  const other = Buffer.from(JSON.stringify({ fid: 'F-0001', eid: 'e1', cid: 'c1' })).toString('base64url');
  const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  const cases: [string, string][] = [
    [`${h}.${other}.${s}`, 'the token signature is not valid'],
    [signJwt({ fid: 'F-0000', eid: 'e1', cid: 'c1' }, Buffer.from('x'.repeat(32))), 'the token signature is not valid'],
    [`${none}.${other}.`, 'the token is not signed with HS256 (alg "none")'],
    [`${none}.${other}.${s}`, 'the token is not signed with HS256 (alg "none")'],
    ['a.b', 'the token is not a JWT (three dot-separated parts)'],
    ['!!.e30.x', 'the token header is not JSON'],
    [`${h}.${other}.${s}=`, 'the token signature is not valid'],
  ];
  for (const [bad, reason] of cases) t.throws(() => verifyJwt(bad, key), { instanceOf: AuthenticationError, message: reason }, bad);
});

test('Authorization: Bearer <token>, case-insensitive scheme; other schemes are not tokens', (t) => {
  t.is(parseBearer('Bearer a.b.c'), 'a.b.c');
  t.is(parseBearer('bearer  a.b-_.c '), 'a.b-_.c');
  t.is(parseBearer('Basic b3BzOng='), undefined);
  t.is(parseBearer('Bearer a b'), undefined);
  t.is(parseBearer(undefined), undefined);
});
