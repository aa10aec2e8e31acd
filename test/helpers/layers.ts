/**
 * The layer checker behind test/layers.test.ts: docs/architecture.md §2 as code.
 *
 * It parses each .ts file under lib/ with the TypeScript compiler (no type checking), collects
 * every module reference (import/export ... from, `import x = require()`, dynamic `import()`,
 * `require('...')`, `import('...')` types), resolves relative ones to files, maps files to
 * layers and reports every breach. It is pure over its input (paths + text), so it is tested
 * against synthetic trees as well as run on the real one.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, posix, relative, sep } from 'node:path';
import ts from 'typescript';

export interface Source {
  /** Repository-relative, '/'-separated: `lib/common/ids.ts`. */
  path: string;
  text: string;
}

export interface Breach {
  file: string;
  line: number;
  rule: string;
  message: string;
}

export function formatBreach(b: Breach): string {
  return `${b.file}:${b.line} [${b.rule}] ${b.message}`;
}

/* ---------------------------------------------------------------- layers */

export type LayerName =
  | 'common'
  | 'proto'
  | 'transport'
  | 'allocator'
  | 'master'
  | 'agent'
  | 'linux'
  | 'cli'
  | 'ui'
  | 'scheduler'
  | 'executor'
  | 'unknown' // under lib/ but in no known layer
  | 'outside'; // not under lib/

export interface Layer {
  name: LayerName;
  /** agent files under containerizer/ or fetcher/: may use lib/linux. */
  linuxAllowed: boolean;
  /** lib/agent/containerizer/isolators/<isolator>[.ts|/...]: the isolator's name. */
  isolator: string | undefined;
}

export function layerOf(path: string): Layer {
  const p = posix.normalize(path);
  const base: Layer = { name: 'unknown', linuxAllowed: false, isolator: undefined };
  if (!p.startsWith('lib/')) return { ...base, name: 'outside' };
  const parts = p.split('/').slice(1); // without "lib"
  const top = parts[0];
  if (parts.length < 2) return base; // a file directly in lib/
  switch (top) {
    case 'common':
    case 'proto':
    case 'transport':
    case 'linux':
    case 'cli':
    case 'ui':
    case 'scheduler':
    case 'executor':
      return { ...base, name: top };
    case 'master':
      return { ...base, name: parts[1] === 'allocator' && parts.length > 2 ? 'allocator' : 'master' };
    case 'agent': {
      const linuxAllowed = (parts[1] === 'containerizer' || parts[1] === 'fetcher') && parts.length > 2;
      let isolator: string | undefined;
      if (parts[1] === 'containerizer' && parts[2] === 'isolators' && parts.length > 3) {
        isolator = (parts[3] ?? '').replace(/\.(ts|js|mts|cts)$/, '');
      }
      return { name: 'agent', linuxAllowed, isolator };
    }
    default:
      return base;
  }
}

/** What each layer may import (other than itself), docs/architecture.md §2. */
const ALLOWED: Record<LayerName, readonly LayerName[]> = {
  common: ['common'],
  proto: ['proto', 'common'],
  transport: ['transport', 'common', 'proto'],
  allocator: ['allocator', 'common', 'proto' /* types only, checked apart */],
  master: ['master', 'common', 'proto', 'allocator', 'transport'],
  agent: ['agent', 'common', 'proto', 'transport' /* + linux where linuxAllowed */],
  linux: ['linux', 'common'],
  ui: ['ui', 'common', 'proto'],
  scheduler: ['scheduler', 'common', 'proto', 'transport'],
  executor: ['executor', 'common', 'proto', 'transport'],
  cli: ['common', 'proto', 'transport', 'allocator', 'master', 'agent', 'linux', 'cli', 'ui', 'scheduler', 'executor'],
  unknown: [],
  outside: [],
};

/** Node built-ins that do I/O or keep time: not in common nor in the allocator. */
const IO_BUILTINS = new Set([
  'fs',
  'fs/promises',
  'net',
  'child_process',
  'dgram',
  'dns',
  'dns/promises',
  'http',
  'https',
  'http2',
  'tls',
  'cluster',
  'worker_threads',
  'readline',
  'readline/promises',
  'repl',
  'inspector',
  'timers',
  'timers/promises',
  'perf_hooks',
]);

const GLOBAL_TIMERS = new Set(['setTimeout', 'setInterval', 'setImmediate']);

/** The functions that build an HTTP response (lib/transport/responses.ts). */
const RESPONSE_BUILDERS = new Set(['textResponse', 'jsonResponse']);
/** Layers whose code outside an http/ folder never chooses an HTTP status (transport is HTTP itself). */
const STATUS_FREE: ReadonlySet<LayerName> = new Set(['common', 'proto', 'allocator', 'master', 'agent', 'linux']);

/** Words of the cluster vocabulary that lib/linux must not use (docs/architecture.md §2). */
const CLUSTER_WORDS = new Set([
  'mesos',
  'framework',
  'frameworks',
  'offer',
  'offers',
  'offered',
  'executor',
  'executors',
  'agent',
  'agents',
  'slave',
  'slaves',
]);

/** Split an identifier or text into lower-case words: `offerId` → offer, id; `user_agent` → user, agent. */
export function words(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

/* ---------------------------------------------------------------- references */

interface Ref {
  /** The specifier, or undefined for a dynamic import of a non-literal. */
  spec: string | undefined;
  typeOnly: boolean;
  line: number;
  kind: 'import' | 'export' | 'dynamic' | 'require' | 'type';
}

interface Scan {
  refs: Ref[];
  timers: number[]; // lines using global timers
  clock: { line: number; what: string }[]; // Date.now, new Date(), performance.now, process.hrtime
  vocabulary: { line: number; word: string; where: string }[];
  addon: number[]; // lines naming the .node file
  statuses: { line: number; what: string }[]; // HTTP statuses chosen
}

function isNameOnly(node: ts.Identifier): boolean {
  const p = node.parent;
  if (!p) return false;
  if (ts.isPropertyAccessExpression(p) && p.name === node) {
    const obj = p.expression;
    return !(ts.isIdentifier(obj) && ['globalThis', 'global', 'window', 'self'].includes(obj.text));
  }
  if (ts.isQualifiedName(p) && p.right === node) return true;
  if (
    (ts.isPropertyAssignment(p) ||
      ts.isPropertyDeclaration(p) ||
      ts.isPropertySignature(p) ||
      ts.isMethodDeclaration(p) ||
      ts.isMethodSignature(p) ||
      ts.isGetAccessorDeclaration(p) ||
      ts.isSetAccessorDeclaration(p) ||
      ts.isEnumMember(p)) &&
    p.name === node
  )
    return true;
  if ((ts.isImportSpecifier(p) || ts.isExportSpecifier(p) || ts.isBindingElement(p)) && p.propertyName === node) return true;
  return false;
}

function scan(src: Source): Scan {
  const sf = ts.createSourceFile(src.path, src.text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Scan = { refs: [], timers: [], clock: [], vocabulary: [], addon: [], statuses: [] };
  const lineOf = (n: ts.Node): number => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const vocab = (n: ts.Node, text: string, where: string): void => {
    for (const w of words(text)) if (CLUSTER_WORDS.has(w)) out.vocabulary.push({ line: lineOf(n), word: w, where });
  };

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      let typeOnly = false;
      if (clause) {
        if (clause.isTypeOnly) typeOnly = true;
        else if (
          !clause.name &&
          clause.namedBindings &&
          ts.isNamedImports(clause.namedBindings) &&
          clause.namedBindings.elements.length > 0 &&
          clause.namedBindings.elements.every((e) => e.isTypeOnly)
        )
          typeOnly = true;
      }
      out.refs.push({ spec: node.moduleSpecifier.text, typeOnly, line: lineOf(node), kind: 'import' });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly =
        node.isTypeOnly ||
        (!!node.exportClause &&
          ts.isNamedExports(node.exportClause) &&
          node.exportClause.elements.length > 0 &&
          node.exportClause.elements.every((e) => e.isTypeOnly));
      out.refs.push({ spec: node.moduleSpecifier.text, typeOnly, line: lineOf(node), kind: 'export' });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const e = node.moduleReference.expression;
      out.refs.push({ spec: ts.isStringLiteral(e) ? e.text : undefined, typeOnly: node.isTypeOnly, line: lineOf(node), kind: 'require' });
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal)) {
        out.refs.push({ spec: arg.literal.text, typeOnly: true, line: lineOf(node), kind: 'type' });
      }
    } else if (ts.isCallExpression(node)) {
      const [first] = node.arguments;
      const literal = first && (ts.isStringLiteral(first) || ts.isNoSubstitutionTemplateLiteral(first)) ? first.text : undefined;
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        out.refs.push({ spec: literal, typeOnly: false, line: lineOf(node), kind: 'dynamic' });
      } else if (ts.isIdentifier(node.expression) && node.expression.text === 'require' && literal !== undefined) {
        out.refs.push({ spec: literal, typeOnly: false, line: lineOf(node), kind: 'require' });
      }
    }

    if (ts.isIdentifier(node)) {
      if (GLOBAL_TIMERS.has(node.text) && !isNameOnly(node)) out.timers.push(lineOf(node));
      vocab(node, node.text, `identifier '${node.text}'`);
    } else if (ts.isPrivateIdentifier(node)) {
      vocab(node, node.text, `identifier '${node.text}'`);
    } else if (
      ts.isStringLiteral(node) ||
      ts.isNoSubstitutionTemplateLiteral(node) ||
      ts.isTemplateHead(node) ||
      ts.isTemplateMiddle(node) ||
      ts.isTemplateTail(node)
    ) {
      vocab(node, node.text, `string ${JSON.stringify(node.text.slice(0, 60))}`);
      if (/\.node$/.test(node.text) || node.text.includes('corral_native')) out.addon.push(lineOf(node));
    }

    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const obj = node.expression.text;
      const prop = node.name.text;
      if ((obj === 'Date' && prop === 'now') || (obj === 'performance' && prop === 'now') || (obj === 'process' && (prop === 'hrtime' || prop === 'uptime'))) {
        out.clock.push({ line: lineOf(node), what: `${obj}.${prop}` });
      }
    }
    // An HTTP status chosen: `status: 404`, a `status: 202 | 400` type, or a response built.
    const isStatus = (n: ts.Node | undefined): boolean => !!n && ts.isNumericLiteral(n) && Number(n.text) >= 100 && Number(n.text) <= 599;
    const named = (n: ts.PropertyName): boolean => (ts.isIdentifier(n) || ts.isStringLiteral(n)) && n.text === 'status';
    if (ts.isPropertyAssignment(node) && named(node.name) && isStatus(node.initializer))
      out.statuses.push({ line: lineOf(node), what: `status: ${node.initializer.getText(sf)}` });
    if (ts.isPropertySignature(node) && named(node.name) && node.type) {
      const types = ts.isUnionTypeNode(node.type) ? node.type.types : [node.type];
      if (types.some((t) => ts.isLiteralTypeNode(t) && isStatus(t.literal)))
        out.statuses.push({ line: lineOf(node), what: `a status type ${node.type.getText(sf)}` });
    }
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && RESPONSE_BUILDERS.has(node.expression.text)) {
      out.statuses.push({ line: lineOf(node), what: `${node.expression.text}()` });
    }
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'Date' && !node.arguments?.length) {
      out.clock.push({ line: lineOf(node), what: 'new Date()' });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/* ---------------------------------------------------------------- resolution */

function isRelative(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..';
}

/** The built-in module name (`fs` for `node:fs` and `fs`), or undefined if `spec` is not a built-in. */
function builtin(spec: string): string | undefined {
  if (!isBuiltin(spec)) return undefined;
  return spec.startsWith('node:') ? spec.slice(5) : spec;
}

/** Resolve a relative specifier from `from` against the known files. */
export function resolve(from: string, spec: string, known: ReadonlySet<string>): string {
  const target = posix.normalize(posix.join(posix.dirname(from), spec));
  const candidates = [target];
  const ext = /\.(m|c)?js$/.exec(target);
  if (ext) candidates.push(target.slice(0, -ext[0].length) + `.${ext[1] ?? ''}ts`);
  if (!/\.[a-z]+$/i.test(target)) candidates.push(`${target}.ts`, `${target}/index.ts`);
  return candidates.find((c) => known.has(c)) ?? target;
}

/* ---------------------------------------------------------------- the check */

export function checkLayers(sources: readonly Source[]): Breach[] {
  const breaches: Breach[] = [];
  const known = new Set(sources.map((s) => s.path));
  const graph = new Map<string, { to: string; line: number }[]>();
  const add = (file: string, line: number, rule: string, message: string): void => {
    breaches.push({ file, line, rule, message });
  };

  for (const src of sources) {
    const from = layerOf(src.path);
    const s = scan(src);
    const edges: { to: string; line: number }[] = [];
    graph.set(src.path, edges);

    if (from.name === 'unknown' || from.name === 'outside') {
      add(src.path, 1, 'layer', `${src.path} is in no layer of docs/architecture.md §2 (lib/<layer>/...)`);
    }

    for (const ref of s.refs) {
      if (ref.spec === undefined) {
        if (from.name !== 'cli') add(src.path, ref.line, 'dynamic-import', 'dynamic import of a computed specifier: the layer rules cannot be checked');
        continue;
      }
      if (!isRelative(ref.spec)) {
        const b = builtin(ref.spec);
        if (b !== undefined && (from.name === 'common' || from.name === 'allocator') && IO_BUILTINS.has(b)) {
          add(src.path, ref.line, 'io', `${from.name} must do no I/O and keep no time: imports '${ref.spec}'`);
        }
        continue;
      }
      const target = resolve(src.path, ref.spec, known);
      const to = layerOf(target);
      edges.push({ to: target, line: ref.line });
      if (to.name === 'cli' && from.name !== 'cli') {
        add(src.path, ref.line, 'cli', `nothing imports lib/cli: imports '${ref.spec}'`);
        continue;
      }
      if (to.name === 'outside') {
        add(src.path, ref.line, 'outside', `imports '${ref.spec}', outside lib/`);
        continue;
      }
      let allowed = ALLOWED[from.name].includes(to.name);
      if (from.name === 'agent' && to.name === 'linux') allowed = from.linuxAllowed;
      if (!allowed) {
        const why =
          from.name === 'agent' && to.name === 'linux'
            ? 'agent code reaches lib/linux only from agent/containerizer/ and agent/fetcher/'
            : `${from.name} may import only ${ALLOWED[from.name].join(', ') || 'nothing'}`;
        add(src.path, ref.line, 'layer', `${why}: imports '${ref.spec}' (${to.name})`);
        continue;
      }
      if (from.name === 'allocator' && to.name === 'proto' && !ref.typeOnly) {
        add(src.path, ref.line, 'types-only', `the allocator may import only types from proto: use \`import type\` for '${ref.spec}'`);
      }
      if (from.isolator !== undefined && to.isolator !== undefined && to.isolator !== from.isolator) {
        add(src.path, ref.line, 'isolator', `isolator '${from.isolator}' imports isolator '${to.isolator}' ('${ref.spec}')`);
      }
    }

    if (from.name === 'common' || from.name === 'allocator') {
      for (const line of s.timers) add(src.path, line, 'timers', `${from.name} must not use global timers: take a Clock`);
    }
    if (from.name === 'allocator') {
      for (const c of s.clock) add(src.path, c.line, 'time', `the allocator takes time as a parameter: uses ${c.what}`);
    }
    if (from.name === 'linux') {
      for (const v of s.vocabulary) add(src.path, v.line, 'vocabulary', `lib/linux speaks no cluster vocabulary: '${v.word}' in ${v.where}`);
    }
    if (STATUS_FREE.has(from.name) && !src.path.includes('/http/')) {
      for (const c of s.statuses) add(src.path, c.line, 'http-status', `HTTP statuses are chosen only in http/ folders: ${c.what}`);
    }
    if (src.path !== 'lib/linux/native.ts') {
      for (const line of s.addon) add(src.path, line, 'addon', 'only lib/linux/native.ts loads the native addon');
    }
  }

  for (const cycle of findCycles(graph)) {
    const first = cycle[0] ?? '';
    const edge = graph.get(first)?.find((e) => e.to === cycle[1]);
    add(first, edge?.line ?? 1, 'cycle', `circular import: ${[...cycle].join(' → ')}`);
  }
  return breaches.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

/**
 * One cycle per strongly connected component (Tarjan), as a path that starts and ends at the
 * component's first file in sort order.
 */
export function findCycles(graph: ReadonlyMap<string, readonly { to: string }[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const comps: string[][] = [];
  const next = (v: string): string[] => (graph.get(v) ?? []).map((e) => e.to).filter((w) => graph.has(w));

  const strong = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of next(v)) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || next(v).includes(v)) comps.push(comp.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) strong(v);

  return comps.map((comp) => {
    const inComp = new Set(comp);
    const start = comp[0]!;
    // Breadth-first from start back to start, inside the component: a shortest cycle.
    const prev = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of next(v)) {
        if (!inComp.has(w)) continue;
        if (w === start) {
          const path = [start];
          for (let u: string | undefined = v; u !== undefined && u !== start; u = prev.get(u)) path.splice(1, 0, u);
          return [...path, start];
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    return [...comp, start];
  });
}

/** Every .ts file under `root`/lib, as repository-relative sources. */
export function loadLibSources(root: string): Source[] {
  const out: Source[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(full);
      } else if (e.isFile() && /\.(m|c)?ts$/.test(e.name) && !e.name.endsWith('.d.ts')) {
        out.push({ path: relative(root, full).split(sep).join('/'), text: readFileSync(full, 'utf8') });
      }
    }
  };
  walk(join(root, 'lib'));
  return out.sort((a, b) => a.path.localeCompare(b.path));
}
