import test from 'ava';
import { CorralError, ValidationError, isCorralError, systemCode } from '../../lib/common/errors.ts';

test('a validation error names its field and reason and has a stable code', (t) => {
  const e = new ValidationError('resources[1].name', 'must not be empty');
  t.true(isCorralError(e));
  t.is(e.code, 'INVALID');
  t.is(e.field, 'resources[1].name');
  t.is(e.message, 'resources[1].name: must not be empty');
  t.is(e.reason, 'must not be empty');
  t.false(isCorralError(new Error('x')));
  t.is(new CorralError('INVALID', 'm', { cause: e }).cause, e);
});

test('a code is one of ErrorCode: an unknown one does not compile; one Node gave is marked as a system code', (t) => {
  // @ts-expect-error 'NO_SUCH_CODE' is not an ErrorCode
  t.is(new CorralError('NO_SUCH_CODE', 'm').code, 'NO_SUCH_CODE');
  // @ts-expect-error a subclass's code option is an ErrorCode too
  t.is(new ValidationError('f', 'r', { code: 'NO_SUCH_CODE' }).code, 'NO_SUCH_CODE');
  t.is(new CorralError(systemCode('EADDRINUSE'), 'm').code as string, 'EADDRINUSE');
});
