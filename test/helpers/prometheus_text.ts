/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), written from its
 * specification, for tests: it throws naming the line on anything the format does not allow.
 *
 * - A line is a comment (`# HELP name text`, `# TYPE name type`, or `#` anything else), a
 *   sample (`name{label="value",...} value [timestamp]`), or empty.
 * - Names match [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]*, those starting
 *   `__` reserved; label values are double-quoted with `\\`, `\"` and `\n` the only escapes.
 * - Values are Go floats: decimal or exponent notation, `NaN`, `+Inf`, `-Inf`.
 * - A metric has at most one TYPE and one HELP, its TYPE before its first sample; its samples are
 *   together. A histogram's samples are `_bucket` (with an `le` label, cumulative counts, a
 *   `+Inf` bucket equal to `_count`), `_sum` and `_count`; a counter's values are not negative.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf|NaN)$/;

function parseValue(text: string, where: string): number {
  if (!FLOAT.test(text)) throw new Error(`${where}: '${text}' is not a float`);
  if (text === 'NaN') return NaN;
  if (/Inf$/.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  return Number(text);
}

/** The family a sample name belongs to (a histogram's `_bucket`, `_sum`, `_count`). */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const f = families.get(name.slice(0, -suffix.length));
      if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
    }
  }
  return families.get(name);
}

export function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, i) => {
    const where = `line ${i + 1} '${line}'`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string | undefined];
      if (!NAME.test(name)) throw new Error(`${where}: '${name}' is not a metric name`);
      let f = families.get(name);
      if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }));
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest ?? '')) throw new Error(`${where}: '${rest}' is not a type`);
        if ((f as { typed?: boolean }).typed) throw new Error(`${where}: a second TYPE for ${name}`);
        if (f.samples.length > 0) throw new Error(`${where}: TYPE after samples of ${name}`);
        (f as { typed?: boolean }).typed = true;
        f.type = rest as Family['type'];
      } else {
        if (f.help !== undefined) throw new Error(`${where}: a second HELP for ${name}`);
        if (/\\[^\\n]/.test((rest ?? '').replace(/\\\\/g, ''))) throw new Error(`${where}: a HELP escape other than \\\\ and \\n`);
        f.help = rest ?? '';
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^]*\})?\s+(\S+)(?:\s+(-?\d+))?$/.exec(line);
    if (!m) throw new Error(`${where}: not a sample`);
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    if (labelText !== undefined) {
      let rest = labelText.slice(1, -1);
      while (rest.length > 0) {
        const lm = /^([^=\s]+)="((?:[^"\\\n]|\\[\\"n])*)"(,?)/.exec(rest);
        if (!lm) throw new Error(`${where}: bad labels at '${rest}'`);
        const [whole, key, raw, comma] = lm as unknown as [string, string, string, string];
        if (!LABEL_NAME.test(key) || key.startsWith('__')) throw new Error(`${where}: '${key}' is not a label name`);
        if (key in labels) throw new Error(`${where}: label ${key} twice`);
        labels[key] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(whole.length);
        if (comma === '' && rest.length > 0) throw new Error(`${where}: labels not separated by commas`);
      }
    }
    const value = parseValue(valueText, where);
    let f = familyOf(name, families);
    if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }));
    if (current !== f.name) {
      if (closed.has(f.name)) throw new Error(`${where}: samples of ${f.name} are not together`);
      if (current !== undefined) closed.add(current);
      current = f.name;
    }
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: a counter must not be negative`);
    if (f.type === 'histogram') {
      const suffix = name.slice(f.name.length);
      if (!['_bucket', '_sum', '_count'].includes(suffix)) throw new Error(`${where}: ${name} is not a sample of histogram ${f.name}`);
      if (suffix === '_bucket' && labels.le === undefined) throw new Error(`${where}: a bucket without le`);
    }
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, { le: number; count: number }[]>();
  const counts = new Map<string, number>();
  const key = (labels: Readonly<Record<string, string>>) =>
    JSON.stringify(
      Object.entries(labels)
        .filter(([k]) => k !== 'le')
        .sort(),
    );
  for (const s of f.samples) {
    const k = key(s.labels);
    if (s.name.endsWith('_bucket')) {
      const list = series.get(k) ?? [];
      series.set(k, list);
      list.push({ le: parseValue(s.labels.le!, `${f.name} le`), count: s.value });
    } else if (s.name.endsWith('_count')) counts.set(k, s.value);
  }
  for (const [k, list] of series) {
    for (let i = 1; i < list.length; i++) {
      if (!(list[i]!.le > list[i - 1]!.le)) throw new Error(`${f.name}${k}: buckets not in increasing le order`);
      if (list[i]!.count < list[i - 1]!.count) throw new Error(`${f.name}${k}: bucket counts are not cumulative`);
    }
    const inf = list.at(-1)!;
    if (inf.le !== Infinity) throw new Error(`${f.name}${k}: no +Inf bucket`);
    if (counts.get(k) !== inf.count) throw new Error(`${f.name}${k}: _count ${counts.get(k)} is not the +Inf bucket's ${inf.count}`);
  }
}

/** The one value of `name` whose labels include `labels` (throws when there is none). */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
}
