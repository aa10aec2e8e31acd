import test from 'ava';
import { MAX_ID_BYTES, idProblem, roleProblem } from '../../lib/common/ids.ts';

test('idProblem accepts ordinary ids, including spaces, dots inside and non-ASCII text', (t) => {
  for (const id of ['task-1', 'a', 'vol 1', '...', '.hidden', 'a..b', 'ünïcødé', '日本', 'x'.repeat(MAX_ID_BYTES)]) {
    t.is(idProblem(id), undefined, JSON.stringify(id));
  }
});

test('idProblem rejects an empty id', (t) => {
  t.is(idProblem(''), 'must not be empty');
});

test('idProblem limits the length in UTF-8 bytes, not in characters', (t) => {
  t.is(idProblem('x'.repeat(MAX_ID_BYTES + 1)), 'must be at most 255 bytes');
  // 'é' is two bytes in UTF-8: 127 of them plus one ASCII byte is exactly 255 bytes.
  t.is(idProblem('é'.repeat(127) + 'a'), undefined);
  t.is(idProblem('é'.repeat(128)), 'must be at most 255 bytes');
  t.is(idProblem('😀'.repeat(64)), 'must be at most 255 bytes'); // 4 bytes each = 256
  t.is(idProblem('😀'.repeat(63) + 'abc'), undefined); // 252 + 3
});

test("idProblem rejects the path components '.' and '..'", (t) => {
  t.is(idProblem('.'), "must not be '.'");
  t.is(idProblem('..'), "must not be '..'");
});

test('idProblem rejects control characters anywhere, including NUL and DEL', (t) => {
  for (const id of ['a\u0000b', '\u0001', 'tab\there', 'line\n', 'x\u001f', 'del\u007f']) {
    t.is(idProblem(id), 'must not contain control characters', JSON.stringify(id));
  }
});

test('idProblem rejects slashes and backslashes', (t) => {
  t.is(idProblem('a/b'), "must not contain '/'");
  t.is(idProblem('/'), "must not contain '/'");
  t.is(idProblem('a\\b'), "must not contain '\\'");
});

test("roleProblem accepts '*' and ordinary role names", (t) => {
  for (const role of ['*', 'ads', 'a-b', 'a.b', 'a_b', 'A1', '...', 'a*', '**', 'rôle', 'a:b']) {
    t.is(roleProblem(role), undefined, JSON.stringify(role));
  }
});

test('roleProblem rejects an empty role', (t) => {
  t.is(roleProblem(''), 'must not be empty');
});

test("roleProblem rejects '.' and '..'", (t) => {
  t.is(roleProblem('.'), "must not be '.'");
  t.is(roleProblem('..'), "must not be '..'");
});

test("roleProblem rejects a leading '-' but allows one inside", (t) => {
  t.is(roleProblem('-ads'), "must not start with '-'");
  t.is(roleProblem('-'), "must not start with '-'");
  t.is(roleProblem('ads-'), undefined);
});

test('roleProblem rejects every whitespace character of the Mesos rule', (t) => {
  for (const c of ['\t', '\n', '\u000b', '\u000c', '\r', ' ']) {
    t.is(roleProblem(`a${c}b`), 'must not contain whitespace', JSON.stringify(c));
    t.is(roleProblem(`${c}a`), 'must not contain whitespace', JSON.stringify(c));
  }
});

test("roleProblem rejects '/' and DEL (1.0 rules: no hierarchical roles)", (t) => {
  t.is(roleProblem('a/b'), "must not contain '/'");
  t.is(roleProblem('a\u007f'), 'must not contain DEL');
});
