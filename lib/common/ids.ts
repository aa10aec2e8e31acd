/**
 * Identifier rules shared by every kind of id (task, executor, framework, agent, persistence):
 * non-empty, at most 255 bytes, not `.` or `..`, no control characters, no `/` and no `\`.
 */
export const MAX_ID_BYTES = 255;

/** Why `value` is not a valid id, or undefined when it is. */
export function idProblem(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (Buffer.byteLength(value, 'utf8') > MAX_ID_BYTES) return `must be at most ${MAX_ID_BYTES} bytes`;
  if (value === '.' || value === '..') return `must not be '${value}'`;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return 'must not contain control characters';
    if (c === 0x2f) return "must not contain '/'";
    if (c === 0x5c) return "must not contain '\\'";
  }
  return undefined;
}

/**
 * Role names (Mesos 1.0 rules): `*` is the unreserved role; otherwise non-empty, not `.` or `..`,
 * not starting with `-`, and no whitespace, `/` or DEL.
 */
export function roleProblem(role: string): string | undefined {
  if (role === '*') return undefined;
  if (role.length === 0) return 'must not be empty';
  if (role === '.' || role === '..') return `must not be '${role}'`;
  if (role.startsWith('-')) return "must not start with '-'";
  for (let i = 0; i < role.length; i++) {
    const c = role.charCodeAt(i);
    if (c === 0x09 || c === 0x0a || c === 0x0b || c === 0x0c || c === 0x0d || c === 0x20) {
      return 'must not contain whitespace';
    }
    if (c === 0x2f) return "must not contain '/'";
    if (c === 0x7f) return 'must not contain DEL';
  }
  return undefined;
}
