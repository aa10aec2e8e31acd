/**
 * The semicolon text form of resources used by the agent's `--resources` flag:
 * `cpus(role):4;mem:1024;ports:[31000-32000];bugs:{a,b}`.
 */
import { ValidationError } from '../errors.ts';
import { type Resource, type ResourceInput, UNRESERVED, validateResource } from './resource.ts';
import { Resources } from './resources.ts';
import { MAX_SCALAR, type Range } from './values.ts';

const UINT = /^[0-9]+$/;
const DECIMAL = /^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/;

function parseValue(raw: string, at: string): Pick<ResourceInput, 'type' | 'scalar' | 'ranges' | 'set'> {
  const v = raw.replace(/\s+/g, '');
  if (v.length === 0) throw new ValidationError(at, 'has no value');
  if (v.startsWith('[')) {
    if (!v.endsWith(']')) throw new ValidationError(at, `ranges '${v}' must end with ']'`);
    // '-' also separates begin from end, so a minus sign would otherwise vanish in the split.
    if (/[[,-]-/.test(v)) throw new ValidationError(at, `ranges '${v}' must not contain negative numbers`);
    const tokens = v.split(/[[\]\-,\n]/).filter((t) => t.length > 0);
    if (tokens.length % 2 !== 0) throw new ValidationError(at, `ranges '${v}' must be pairs like [1-10,20-30]`);
    const ranges: Range[] = [];
    for (let i = 0; i < tokens.length; i += 2) {
      const [b, e] = [tokens[i]!, tokens[i + 1]!];
      if (!UINT.test(b) || !UINT.test(e)) throw new ValidationError(at, `'${b}-${e}' is not a range of unsigned integers`);
      const begin = Number(b);
      const end = Number(e);
      if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end)) {
        throw new ValidationError(at, `'${b}-${e}' exceeds 2^53`);
      }
      if (begin > end) throw new ValidationError(at, `range ${begin}-${end} has begin greater than end`);
      ranges.push({ begin, end });
    }
    // Not coalesced here: validateResource refuses overlapping ranges ([1-10,5-20] is a mistake).
    return { type: 'RANGES', ranges };
  }
  if (v.startsWith('{')) {
    if (!v.endsWith('}')) throw new ValidationError(at, `set '${v}' must end with '}'`);
    const items = v
      .slice(1, -1)
      .split(',')
      .filter((t) => t.length > 0);
    return { type: 'SET', set: items };
  }
  if (v.startsWith('-') && DECIMAL.test(v.slice(1))) throw new ValidationError(at, `bad value '${v}': must not be negative`);
  if (!DECIMAL.test(v)) throw new ValidationError(at, `bad value '${v}': not a number, [ranges] or {set}`);
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ValidationError(at, `bad value '${v}': not finite`);
  if (n > MAX_SCALAR) throw new ValidationError(at, `bad value '${v}': more than ${MAX_SCALAR}, the largest value a resource holds exactly at 3 decimals`);
  return { type: 'SCALAR', scalar: n };
}

/**
 * Parse the text form. Resources without a role get `defaultRole`. Throws a ValidationError
 * naming the offending token and the reason.
 */
export function parseResourcesText(text: string, defaultRole: string = UNRESERVED): Resources {
  const out: Resource[] = [];
  const tokens = text.split(';');
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!.trim();
    if (token.length === 0) continue;
    const at = `resources '${token}'`;
    const pieces = token.split(':');
    if (pieces.length !== 2) throw new ValidationError(at, "must be 'name:value' or 'name(role):value' with exactly one ':'");
    const head = pieces[0]!;
    const open = head.indexOf('(');
    const close = head.indexOf(')');
    let name = head;
    let role = defaultRole;
    if (open >= 0 || close >= 0) {
      if (open < 0 || close < open || close !== head.trimEnd().length - 1) {
        throw new ValidationError(at, "mismatched parentheses around the role; expected 'name(role)'");
      }
      name = head.slice(0, open);
      role = head.slice(open + 1, close).trim();
    }
    name = name.trim();
    out.push(validateResource({ name, role, ...parseValue(pieces[1]!, at) }, at));
  }
  checkSameTypes(out);
  checkNoOverlap(out);
  const res = Resources.of(out);
  // A name given twice is summed: the sum too must stay within the fixed point.
  for (const r of res) {
    if ((r.scalar ?? 0) > MAX_SCALAR)
      throw new ValidationError(
        `resources '${r.name}'`,
        `the sum ${r.scalar} is more than ${MAX_SCALAR}, the largest value a resource holds exactly at 3 decimals`,
      );
  }
  return res;
}

/** The same ranges resource (name and role) given twice must not overlap: `ports:[1-10];ports:[5-20]`. */
function checkNoOverlap(list: readonly Resource[]): void {
  const seen = new Map<string, Range[]>();
  for (const r of list) {
    if (r.type !== 'RANGES') continue;
    const key = `${r.name}(${r.role})`;
    const before = seen.get(key) ?? [];
    for (const a of r.ranges ?? []) {
      const b = before.find((x) => x.begin <= a.end && a.begin <= x.end);
      if (b) throw new ValidationError(`resources '${r.name}'`, `ranges [${b.begin}-${b.end}] and [${a.begin}-${a.end}] overlap`);
    }
    seen.set(key, [...before, ...(r.ranges ?? [])]);
  }
}

/** A name must not be used with two different value types. */
function checkSameTypes(list: readonly Resource[]): void {
  const types = new Map<string, string>();
  for (const r of list) {
    const t = types.get(r.name);
    if (t !== undefined && t !== r.type) {
      throw new ValidationError(`resources '${r.name}'`, `used with two types (${t} and ${r.type})`);
    }
    types.set(r.name, r.type);
  }
}

/**
 * The extra rules for resources an operator gives on an agent's command line: no persistent
 * volumes, no revocable resources, no dynamic reservations, one type per name.
 */
export function checkAgentFlagResources(res: Resources): void {
  for (const r of res) {
    const at = `resources '${r.name}'`;
    if (r.disk?.persistence) throw new ValidationError(at, 'persistent volumes cannot be given on the command line');
    if (r.revocable) throw new ValidationError(at, 'revocable resources cannot be given on the command line');
    if (r.reservation) throw new ValidationError(at, 'dynamic reservations cannot be given on the command line');
  }
  checkSameTypes(res.toArray());
}

function textValue(r: Resource): string {
  switch (r.type) {
    case 'SCALAR':
      return String(r.scalar ?? 0);
    case 'RANGES':
      return `[${(r.ranges ?? []).map((x) => `${x.begin}-${x.end}`).join(',')}]`;
    case 'SET':
      return `{${(r.set ?? []).join(',')}}`;
  }
}

/**
 * Format back to the text form. Only unreserved or statically reserved plain resources can be
 * written this way; anything else is an error (use the JSON form).
 */
export function formatResourcesText(res: Resources): string {
  const parts: string[] = [];
  for (const r of res) {
    if (r.reservation || r.disk || r.revocable) {
      throw new ValidationError(`resources '${r.name}'`, 'reservations, disk info and revocable resources have no text form');
    }
    // The parser splits on these characters and trims names and removes spaces inside values,
    // so text containing them would read back as something else.
    if (r.name !== r.name.trim() || /[;:()]/.test(r.name)) {
      throw new ValidationError(`resources '${r.name}'`, "a name with ';', ':', '(', ')' or surrounding spaces has no text form");
    }
    if (/[;:()]/.test(r.role)) {
      throw new ValidationError(`resources '${r.name}'`, `role '${r.role}' contains ';', ':', '(' or ')' and has no text form`);
    }
    const item = r.set?.find((x) => x === '' || /[\s;:,]/.test(x));
    if (item !== undefined) {
      throw new ValidationError(`resources '${r.name}'`, `set item '${item}' is empty or contains spaces, ';', ':' or ',' and has no text form`);
    }
    parts.push(`${r.name}${r.role === UNRESERVED ? '' : `(${r.role})`}:${textValue(r)}`);
  }
  return parts.join(';');
}
