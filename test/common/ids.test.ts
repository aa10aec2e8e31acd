import test from 'ava';
import { ValidationError } from '../../lib/common/errors.ts';
import { MAX_ID_BYTES, checkId, checkRole, checkRoleText } from '../../lib/common/ids.ts';

/** The rule `check` refuses `value` with (its ValidationError's reason), or undefined when it passes. */
function ruleBroken(check: (value: string, field: string) => unknown, value: string): string | undefined {
  try {
    check(value, 'f');
    return undefined;
  } catch (e) {
    if (e instanceof ValidationError) return e.reason;
    throw e;
  }
}
const idProblem = (id: string): string | undefined => ruleBroken(checkId, id);
const roleProblem = (role: string): string | undefined => ruleBroken(checkRole, role);

test('a broken rule is a ValidationError naming the field; checkRoleText words it as resources and flags do', (t) => {
  t.throws(() => checkId('a/b', 'task_id'), { instanceOf: ValidationError, message: "task_id: must not contain '/'" });
  t.throws(() => checkRole('', 'role'), { instanceOf: ValidationError, message: 'role: must not be empty' });
  t.is(checkRoleText('web', '--role'), 'web');
  const e = t.throws(() => checkRoleText('a b', "'cpus'.role"), { instanceOf: ValidationError });
  t.is(e?.message, "'cpus'.role: invalid role 'a b': must not contain whitespace");
  t.is(e?.reason, "invalid role 'a b': must not contain whitespace");
});

test('checkId accepts ordinary ids, including spaces, dots inside and non-ASCII text', (t) => {
  for (const id of ['task-1', 'a', 'vol 1', '...', '.hidden', 'a..b', 'ünïcødé', '日本', 'x'.repeat(MAX_ID_BYTES)]) {
    t.is(idProblem(id), undefined, JSON.stringify(id));
  }
});

test('checkId rejects an empty id', (t) => {
  t.is(idProblem(''), 'must not be empty');
});

test('checkId limits the length in UTF-8 bytes, not in characters', (t) => {
  t.is(idProblem('x'.repeat(MAX_ID_BYTES + 1)), 'must be at most 255 bytes');
  // 'é' is two bytes in UTF-8: 127 of them plus one ASCII byte is exactly 255 bytes.
  t.is(idProblem('é'.repeat(127) + 'a'), undefined);
  t.is(idProblem('é'.repeat(128)), 'must be at most 255 bytes');
  t.is(idProblem('😀'.repeat(64)), 'must be at most 255 bytes'); // 4 bytes each = 256
  t.is(idProblem('😀'.repeat(63) + 'abc'), undefined); // 252 + 3
});

test("checkId rejects the path components '.' and '..'", (t) => {
  t.is(idProblem('.'), "must not be '.'");
  t.is(idProblem('..'), "must not be '..'");
});

test('checkId rejects control characters anywhere, including NUL and DEL', (t) => {
  for (const id of ['a\u0000b', '\u0001', 'tab\there', 'line\n', 'x\u001f', 'del\u007f']) {
    t.is(idProblem(id), 'must not contain control characters', JSON.stringify(id));
  }
});

test('checkId rejects slashes and backslashes', (t) => {
  t.is(idProblem('a/b'), "must not contain '/'");
  t.is(idProblem('/'), "must not contain '/'");
  t.is(idProblem('a\\b'), "must not contain '\\'");
});

test("checkRole accepts '*' and ordinary role names", (t) => {
  for (const role of ['*', 'ads', 'a-b', 'a.b', 'a_b', 'A1', '...', 'a*', '**', 'rôle', 'a:b']) {
    t.is(roleProblem(role), undefined, JSON.stringify(role));
  }
});

test('checkRole rejects an empty role', (t) => {
  t.is(roleProblem(''), 'must not be empty');
});

test("checkRole rejects '.' and '..'", (t) => {
  t.is(roleProblem('.'), "must not be '.'");
  t.is(roleProblem('..'), "must not be '..'");
});

test("checkRole rejects a leading '-' but allows one inside", (t) => {
  t.is(roleProblem('-ads'), "must not start with '-'");
  t.is(roleProblem('-'), "must not start with '-'");
  t.is(roleProblem('ads-'), undefined);
});

test('checkRole rejects every whitespace character of the Mesos rule', (t) => {
  for (const c of ['\t', '\n', '\u000b', '\u000c', '\r', ' ']) {
    t.is(roleProblem(`a${c}b`), 'must not contain whitespace', JSON.stringify(c));
    t.is(roleProblem(`${c}a`), 'must not contain whitespace', JSON.stringify(c));
  }
});

test("checkRole rejects '/' and DEL (1.0 rules: no hierarchical roles)", (t) => {
  t.is(roleProblem('a/b'), "must not contain '/'");
  t.is(roleProblem('a\u007f'), 'must not contain DEL');
});
