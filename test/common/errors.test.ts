import test from 'ava';
import { CorralError, ValidationError, isCorralError } from '../../lib/common/errors.ts';

test('a validation error names its field and reason and has a stable code', (t) => {
  const e = new ValidationError('resources[1].name', 'must not be empty');
  t.true(isCorralError(e));
  t.is(e.code, 'INVALID');
  t.is(e.field, 'resources[1].name');
  t.is(e.message, 'resources[1].name: must not be empty');
  t.false(isCorralError(new Error('x')));
  t.is(new CorralError('E', 'm', { cause: e }).cause, e);
});
