/**
 * Identifier rules shared by every kind of id (task, executor, framework, agent, persistence):
 * non-empty, at most 255 bytes, not `.` or `..`, no control characters, no `/` and no `\`.
 * A value that breaks a rule is a ValidationError naming the field, whose `reason` is the rule
 * (`must not be empty`); a caller that words the message its own way takes the reason.
 */
import { ValidationError } from './errors.ts';

export const MAX_ID_BYTES = 255;

/** Throw a ValidationError naming `field` when `value` is not a valid id. */
export function checkId(value: string, field: string): void {
  if (value.length === 0) throw new ValidationError(field, 'must not be empty');
  if (Buffer.byteLength(value, 'utf8') > MAX_ID_BYTES) throw new ValidationError(field, `must be at most ${MAX_ID_BYTES} bytes`);
  if (value === '.' || value === '..') throw new ValidationError(field, `must not be '${value}'`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) throw new ValidationError(field, 'must not contain control characters');
    if (c === 0x2f) throw new ValidationError(field, "must not contain '/'");
    if (c === 0x5c) throw new ValidationError(field, "must not contain '\\'");
  }
}

/**
 * Role names (Mesos 1.0 rules): `*` is the unreserved role; otherwise non-empty, not `.` or `..`,
 * not starting with `-`, and no whitespace, `/` or DEL. Throws a ValidationError naming `field`
 * when `role` breaks one.
 */
export function checkRole(role: string, field: string): void {
  if (role === '*') return;
  if (role.length === 0) throw new ValidationError(field, 'must not be empty');
  if (role === '.' || role === '..') throw new ValidationError(field, `must not be '${role}'`);
  if (role.startsWith('-')) throw new ValidationError(field, "must not start with '-'");
  for (let i = 0; i < role.length; i++) {
    const c = role.charCodeAt(i);
    if (c === 0x09 || c === 0x0a || c === 0x0b || c === 0x0c || c === 0x0d || c === 0x20) {
      throw new ValidationError(field, 'must not contain whitespace');
    }
    if (c === 0x2f) throw new ValidationError(field, "must not contain '/'");
    if (c === 0x7f) throw new ValidationError(field, 'must not contain DEL');
  }
}

/**
 * A role given as text (in a resource or a flag): `role` itself, or a ValidationError naming
 * `field` whose reason reads `invalid role '<role>': <rule>`. (A flag parser passes the flag's
 * `--name` as the field, which the flag's error then does not repeat.)
 */
export function checkRoleText(role: string, field: string): string {
  try {
    checkRole(role, field);
  } catch (e) {
    throw e instanceof ValidationError ? new ValidationError(field, `invalid role '${role}': ${e.reason}`) : e;
  }
  return role;
}
