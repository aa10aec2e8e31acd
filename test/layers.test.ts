/**
 * The layer rules of docs/architecture.md §2, checked on every .ts file under lib/ (see
 * test/helpers/layers.ts), and the checker itself checked against small synthetic trees, so
 * that a breach is shown to fail.
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { checkLayers, formatBreach, layerOf, loadLibSources, words, type Source } from './helpers/layers.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

test('lib/ keeps the layer rules of docs/architecture.md §2', (t) => {
  const sources = loadLibSources(root);
  t.true(sources.length > 0);
  t.true(sources.some((s) => s.path === 'lib/linux/native.ts'));
  t.deepEqual(checkLayers(sources).map(formatBreach), []);
});

/* ---- the checker against synthetic input ---- */

function check(files: Record<string, string>): string[] {
  const sources: Source[] = Object.entries(files).map(([path, text]) => ({ path, text }));
  return checkLayers(sources).map((b) => `${b.file}:${b.line} ${b.rule}`);
}

test('checker: layers by path', (t) => {
  t.is(layerOf('lib/common/resources/text.ts').name, 'common');
  t.is(layerOf('lib/master/allocator/heap.ts').name, 'allocator');
  t.is(layerOf('lib/master/http/api.ts').name, 'master');
  t.deepEqual(layerOf('lib/agent/paths.ts'), { name: 'agent', linuxAllowed: false, isolator: undefined });
  t.deepEqual(layerOf('lib/agent/fetcher/cache.ts'), { name: 'agent', linuxAllowed: true, isolator: undefined });
  t.deepEqual(layerOf('lib/agent/containerizer/isolators/cgroups.ts'), { name: 'agent', linuxAllowed: true, isolator: 'cgroups' });
  t.deepEqual(layerOf('lib/agent/containerizer/isolators/port_mapping/tc.ts').isolator, 'port_mapping');
  t.is(layerOf('lib/index.ts').name, 'unknown');
  t.is(layerOf('test/x.ts').name, 'outside');
});

test('checker: a clean tree passes, with .js and .ts specifiers, type and value imports', (t) => {
  t.deepEqual(
    check({
      'lib/common/a.ts': 'export const a = 1; export function f(clock: { setTimeout(): void }) { clock.setTimeout(); }',
      'lib/proto/p.ts': "import { a } from '../common/a.js'; export type P = { a: typeof a };",
      'lib/master/allocator/x.ts':
        "import type { P } from '../../proto/p.ts'; import { a } from '../../common/a.ts'; export const n = (now: number) => now + a;",
      'lib/master/m.ts': "import { n } from './allocator/x.ts'; export { n };",
      'lib/agent/containerizer/c.ts': "import { mount } from '../../linux/mount.ts'; export { mount };",
      'lib/agent/containerizer/isolators/cpu.ts': "import { mount } from '../../../linux/mount.ts'; import type { I } from '../isolator.ts'; export { mount };",
      'lib/agent/containerizer/isolator.ts': 'export interface I { x: number }',
      'lib/linux/mount.ts':
        "import { readFileSync } from 'node:fs'; export function mount(offset: number) { return offset + readFileSync('/proc/self/mountinfo').length; }",
      'lib/cli/main.ts': "import '../master/m.ts'; import '../agent/containerizer/c.ts'; const x = await import(process.argv[2] ?? '');",
    }),
    [],
  );
});

test('checker: a layer importing a layer it may not is a breach', (t) => {
  t.deepEqual(check({ 'lib/common/a.ts': "import { m } from '../master/m.ts';", 'lib/master/m.ts': 'export const m = 1;' }), ['lib/common/a.ts:1 layer']);
  t.deepEqual(check({ 'lib/proto/a.ts': "export { t } from '../transport/t.ts';", 'lib/transport/t.ts': 'export const t = 1;' }), ['lib/proto/a.ts:1 layer']);
  t.deepEqual(check({ 'lib/master/a.ts': "import '../linux/l.ts';", 'lib/linux/l.ts': '' }), ['lib/master/a.ts:1 layer']);
  t.deepEqual(check({ 'lib/master/a.ts': "import '../agent/x.ts';", 'lib/agent/x.ts': '' }), ['lib/master/a.ts:1 layer']);
  t.deepEqual(check({ 'lib/agent/a.ts': "import '../master/x.ts';", 'lib/master/x.ts': '' }), ['lib/agent/a.ts:1 layer']);
  t.deepEqual(check({ 'lib/linux/a.ts': "import type { X } from '../proto/x.ts';", 'lib/proto/x.ts': '' }), ['lib/linux/a.ts:1 layer']);
  t.deepEqual(check({ 'lib/transport/a.ts': "\n\nconst m = await import('../master/x.ts');", 'lib/master/x.ts': '' }), ['lib/transport/a.ts:3 layer']);
  t.deepEqual(check({ 'lib/master/allocator/a.ts': "import '../registry.ts';", 'lib/master/registry.ts': '' }), ['lib/master/allocator/a.ts:1 layer']);
});

test('checker: agent code outside containerizer/ and fetcher/ may not use lib/linux', (t) => {
  t.deepEqual(check({ 'lib/agent/agent.ts': "import { x } from '../linux/x.ts';", 'lib/linux/x.ts': 'export const x = 1;' }), ['lib/agent/agent.ts:1 layer']);
  t.deepEqual(check({ 'lib/agent/fetcher/f.ts': "import { x } from '../../linux/x.ts';", 'lib/linux/x.ts': 'export const x = 1;' }), []);
});

test('checker: an isolator importing another isolator is a breach', (t) => {
  t.deepEqual(
    check({
      'lib/agent/containerizer/isolators/cpu.ts': "import { mem } from './mem.ts'; import { h } from './cpu/helper.ts';",
      'lib/agent/containerizer/isolators/mem.ts': 'export const mem = 1;',
      'lib/agent/containerizer/isolators/cpu/helper.ts': 'export const h = 1;',
    }),
    ['lib/agent/containerizer/isolators/cpu.ts:1 isolator'],
  );
});

test('checker: the allocator imports only types from proto, and no I/O, timers or wall clock', (t) => {
  t.deepEqual(
    check({
      'lib/master/allocator/a.ts': [
        "import { decode } from '../../proto/p.ts';",
        "import { type P } from '../../proto/p.ts';",
        "import { readFile } from 'node:fs/promises';",
        'const t = Date.now();',
        'const d = new Date();',
        'const ok = new Date(0);',
        'setTimeout(() => {}, 1);',
      ].join('\n'),
      'lib/proto/p.ts': 'export const decode = 1; export type P = number;',
    }),
    [
      'lib/master/allocator/a.ts:1 types-only',
      'lib/master/allocator/a.ts:3 io',
      'lib/master/allocator/a.ts:4 time',
      'lib/master/allocator/a.ts:5 time',
      'lib/master/allocator/a.ts:7 timers',
    ],
  );
});

test('checker: common does no I/O and uses no global timers', (t) => {
  t.deepEqual(
    check({
      'lib/common/a.ts': [
        "import * as fs from 'node:fs';",
        "import net from 'net';",
        "import { spawn } from 'node:child_process';",
        "import { join } from 'node:path';",
        'const id = setInterval(() => {}, 5);',
        'const g = globalThis.setTimeout;',
        'const c = { setTimeout() {} }; c.setTimeout();',
      ].join('\n'),
    }),
    ['lib/common/a.ts:1 io', 'lib/common/a.ts:2 io', 'lib/common/a.ts:3 io', 'lib/common/a.ts:5 timers', 'lib/common/a.ts:6 timers'],
  );
});

test('checker: lib/linux speaks no cluster vocabulary in identifiers or strings', (t) => {
  t.deepEqual(words('offerId user_agent HTTPExecutorInfo frameworks'), ['offer', 'id', 'user', 'agent', 'http', 'executor', 'info', 'frameworks']);
  t.deepEqual(
    check({
      'lib/linux/a.ts': [
        'export const offset = 1; // an agent may call this: comments are not checked',
        'export function killExecutor() {}',
        "export const m = 'no slave here';",
        'export const ok = `mesh ${offset} mesa`;',
        'export class X { #agentPid = 1 }',
      ].join('\n'),
    }),
    ['lib/linux/a.ts:2 vocabulary', 'lib/linux/a.ts:3 vocabulary', 'lib/linux/a.ts:5 vocabulary'],
  );
});

test('checker: nothing imports cli; only lib/linux/native.ts loads the addon', (t) => {
  t.deepEqual(check({ 'lib/master/a.ts': "import { main } from '../cli/main.ts';", 'lib/cli/main.ts': 'export const main = 1;' }), ['lib/master/a.ts:1 cli']);
  t.deepEqual(check({ 'lib/cli/a.ts': "import { main } from './main.ts';", 'lib/cli/main.ts': 'export const main = 1;' }), []);
  t.deepEqual(
    check({
      'lib/linux/other.ts': "const b = require('../../build/Release/corral_native.node');",
      'lib/linux/native.ts': "const p = 'build/Release/corral_native.node';",
    }),
    ['lib/linux/other.ts:1 outside', 'lib/linux/other.ts:1 addon'],
  );
});

test('checker: circular imports are breaches, type-only ones too', (t) => {
  t.deepEqual(
    check({
      'lib/common/a.ts': "import { b } from './b.ts'; export const a = 1;",
      'lib/common/b.ts': "import type { C } from './c.ts'; export const b = 1;",
      'lib/common/c.ts': "import { a } from './a.ts'; export type C = number;",
      'lib/common/d.ts': "import { a } from './a.ts'; import { d } from './d.ts';",
    }),
    ['lib/common/a.ts:1 cycle', 'lib/common/d.ts:1 cycle'],
  );
  const b = checkLayers([
    { path: 'lib/proto/x.ts', text: "import './y.ts';" },
    { path: 'lib/proto/y.ts', text: "export * from './x.ts';" },
  ]);
  t.is(b.length, 1);
  t.is(b[0]?.message, 'circular import: lib/proto/x.ts → lib/proto/y.ts → lib/proto/x.ts');
});

test('checker: computed dynamic imports and files outside any layer are breaches', (t) => {
  t.deepEqual(check({ 'lib/master/a.ts': 'const m = await import(name);' }), ['lib/master/a.ts:1 dynamic-import']);
  t.deepEqual(check({ 'lib/index.ts': 'export {};' }), ['lib/index.ts:1 layer']);
  t.deepEqual(check({ 'lib/proto/a.ts': "import '../../test/x.ts';" }), ['lib/proto/a.ts:1 outside']);
});

test('checker: HTTP statuses are chosen only in http/ folders', (t) => {
  t.deepEqual(
    check({
      'lib/master/ops.ts': [
        'export function op(): { status: 202 | 400; message: string } {',
        "  return { status: 400, message: 'no' };",
        '}',
        'export const ok = { status: 0, code: 404 };',
        "import { textResponse } from '../transport/r.ts'; export const r = textResponse(404, 'x');",
      ].join('\n'),
      'lib/master/http/ops.ts':
        "import { textResponse } from '../../transport/r.ts'; export const a = { status: 404 }; export const r = textResponse(409, 'x');",
      'lib/transport/r.ts': 'export function textResponse(status: number, text: string) { return { status, text }; }',
      'lib/agent/link.ts': 'export const retry = (res: { status: number }) => res.status === 503;',
    }),
    ['lib/master/ops.ts:1 http-status', 'lib/master/ops.ts:2 http-status', 'lib/master/ops.ts:5 http-status'],
  );
});
