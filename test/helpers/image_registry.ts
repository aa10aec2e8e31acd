/**
 * A real Docker registry for tests: Debian's `docker-registry` (distribution 2.8) on a loopback
 * port chosen free, storing under /tmp/corral-test-registry/<pid>-<n>/, and test images built
 * from Debian's `busybox-static` with `umoci` and pushed with `skopeo`. Nothing comes from the
 * internet.
 *
 * stop() kills the registry and removes its directory; a process exit handler does the same for
 * one a failed test left running; start() first clears what a crashed run left (directories
 * whose owning test process is gone: the registry is killed, checked by its command line).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, lutimesSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { freePort } from '../../lib/transport/free_port.ts';
import { join } from 'node:path';
import type { TestFn } from 'ava';
import { pidAlive } from './processes.ts';
import { inCI, rootOnly } from './root.ts';

export const REGISTRY_ROOT = '/tmp/corral-test-registry';
const TOOLS = ['docker-registry', 'umoci', 'skopeo'];
const BUSYBOX = '/bin/busybox';

/** Why the registry tests cannot run here, or undefined. */
export function registryMissing(): string | undefined {
  for (const tool of TOOLS) {
    if (spawnSync('which', [tool], { stdio: 'ignore' }).status !== 0)
      return `${tool} is missing (Debian: apt-get install docker-registry umoci skopeo busybox-static)`;
  }
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (Debian: apt-get install busybox-static)`;
  return undefined;
}

/** ava's `test`, skipped with the reason when the tools are missing (never under CI=true, where the test fails instead). */
export function registryOnly<Context = unknown>(test: TestFn<Context>): TestFn<Context> {
  const missing = registryMissing();
  if (missing === undefined || inCI()) return rootOnly(test);
  process.stderr.write(`# image registry tests skipped: ${missing}\n`);
  return rootOnly(test, 'skip');
}

let counter = 0;
const live = new Set<TestRegistry>();
let hooked = false;

export interface ImageSpec {
  /** Each layer: files to write (path in the image → contents, or a symlink target as {symlink}), and paths to remove (whiteouts). */
  layers: { files?: Record<string, string | { symlink: string } | { copy: string }>; remove?: string[] }[];
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  /** skopeo's --format: 'oci' (default) or 'v2s2' (Docker schema 2). */
  format?: 'oci' | 'v2s2';
}

/** The smallest useful image: busybox-static as /bin/busybox, /bin/sh a link to it, an /etc/os-release of its own. */
export const BUSYBOX_IMAGE: ImageSpec = {
  layers: [
    {
      files: {
        '/bin/busybox': { copy: BUSYBOX },
        '/bin/sh': { symlink: 'busybox' },
        '/bin/cat': { symlink: 'busybox' },
        '/bin/ls': { symlink: 'busybox' },
        '/etc/os-release': 'NAME="Corral test image"\nID=corral-test\n',
      },
    },
  ],
  entrypoint: ['/bin/sh', '-c'],
  cmd: ['cat /etc/os-release'],
  env: ['PATH=/bin', 'IMAGE_VAR=from-the-image'],
  workingDir: '/etc',
};

export class TestRegistry {
  private child: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** `127.0.0.1:<port>`: prefix an image name with it. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestRegistry> {
    clearLeftoverRegistries();
    const dir = join(REGISTRY_ROOT, `${process.pid}-${counter++}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'storage'), { recursive: true });
    writeFileSync(join(dir, 'owner'), String(process.pid));
    const port = await freePort();
    const config = join(dir, 'config.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'storage')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        '',
      ].join('\n'),
    );
    const r = new TestRegistry(dir, port);
    const log = openSync(join(dir, 'registry.log'), 'a');
    try {
      r.child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', log, log] });
      r.child.on('error', () => {});
      if (r.child.pid !== undefined) writeFileSync(join(dir, 'registry.pid'), String(r.child.pid));
    } finally {
      closeSync(log);
    }
    live.add(r);
    if (!hooked) {
      hooked = true;
      process.on('exit', () => {
        for (const x of live) x.killNow();
      });
    }
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (r.child.exitCode !== null) throw new Error(`docker-registry exited: ${r.log()}`);
      const ok = await fetch(`http://${r.host}/v2/`).then(
        (res) => res.status === 200,
        () => false,
      );
      if (ok) return r;
      if (Date.now() > deadline) {
        await r.stop();
        throw new Error(`docker-registry did not answer within 20 s: ${r.log()}`);
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, 'registry.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** How many successful GETs of blob `digest` the registry served (its access log). */
  blobGets(digest: string): number {
    return this.log()
      .split('\n')
      .filter((l) => l.includes(`"GET /v2/`) && l.includes(`/blobs/${digest} `) && / 200 \d+/.test(l)).length;
  }

  /** Build an image from `spec` with umoci and push it as `<host>/<name>`; returns its manifest digest. */
  pushImage(name: string, spec: ImageSpec): string {
    const work = join(this.dir, 'build', name.replace(/[/:]/g, '_'));
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const layout = join(work, 'oci');
    const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    run('umoci', ['init', '--layout', layout]);
    run('umoci', ['new', '--image', `${layout}:img`]);
    for (const [i, layer] of spec.layers.entries()) {
      const src = join(work, `layer${i}`);
      mkdirSync(src);
      for (const [path, what] of Object.entries(layer.files ?? {})) {
        const target = join(src, path);
        mkdirSync(join(target, '..'), { recursive: true });
        if (typeof what === 'string') writeFileSync(target, what);
        else if ('symlink' in what) symlinkSync(what.symlink, target);
        else copyFileSync(what.copy, target);
      }
      // The same contents make the same layer (same digest) in every image built from them, as
      // layers shared between images are: no time of this run may go into the archive.
      fixTimes(src);
      const tops = readdirSync(src);
      if (tops.length > 0) {
        // One umoci insert per top-level entry; the first one makes the layer, later ones add to new layers.
        for (const top of tops) run('umoci', ['insert', '--image', `${layout}:img`, '--no-history', join(src, top), `/${top}`]);
      }
      for (const path of layer.remove ?? []) run('umoci', ['insert', '--image', `${layout}:img`, '--no-history', '--whiteout', path]);
    }
    const cfg: string[] = [];
    if (spec.entrypoint) for (const e of spec.entrypoint) cfg.push(`--config.entrypoint=${e}`);
    if (spec.cmd) for (const c of spec.cmd) cfg.push(`--config.cmd=${c}`);
    for (const e of spec.env ?? []) cfg.push(`--config.env=${e}`);
    if (spec.workingDir) cfg.push(`--config.workingdir=${spec.workingDir}`);
    if (cfg.length > 0) run('umoci', ['config', '--image', `${layout}:img`, '--no-history', ...cfg]);
    const args = ['copy', '--quiet', '--dest-tls-verify=false'];
    if (spec.format === 'v2s2') args.push('--format', 'v2s2');
    args.push(`oci:${layout}:img`, `docker://${this.host}/${name}`);
    run('skopeo', args);
    const inspect = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `docker://${this.host}/${name}`])) as { Digest: string };
    return inspect.Digest;
  }

  /**
   * Copy the pushed image `name` (`repo:tag`) into `dir` as an OCI image layout at
   * `<dir>/<repo>` with `skopeo copy` (what --docker_registry=/path reads).
   */
  copyToLayout(name: string, dir: string): void {
    const colon = name.lastIndexOf(':');
    const repo = name.slice(0, colon);
    const tag = name.slice(colon + 1);
    mkdirSync(join(dir, repo, '..'), { recursive: true });
    execFileSync('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${this.host}/${name}`, `oci:${join(dir, repo)}:${tag}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** The path of a blob's bytes in the registry's storage (a test may damage it). */
  blobFile(digest: string): string {
    const hex = digest.slice('sha256:'.length);
    return join(this.dir, 'storage', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  }

  killNow(): void {
    try {
      this.child?.kill('SIGKILL');
    } catch {
      // gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (c && c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((res) => c.once('exit', res));
      c.kill('SIGKILL');
      await gone;
    }
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const FIXED_TIME = new Date('2020-01-01T00:00:00Z');

function fixTimes(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) fixTimes(p);
    lutimesSync(p, FIXED_TIME, FIXED_TIME);
  }
  lutimesSync(dir, FIXED_TIME, FIXED_TIME);
}

/** Remove the registries of test processes that are gone (a crashed run). */
export function clearLeftoverRegistries(): string[] {
  if (!existsSync(REGISTRY_ROOT)) return [];
  const cleared: string[] = [];
  for (const name of readdirSync(REGISTRY_ROOT)) {
    const dir = join(REGISTRY_ROOT, name);
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(dir, 'owner'), 'utf8').trim());
    } catch {
      owner = Number(/^(\d+)-/.exec(name)?.[1] ?? NaN);
    }
    if (Number.isInteger(owner) && (owner === process.pid || pidAlive(owner))) continue;
    try {
      const pid = Number(readFileSync(join(dir, 'registry.pid'), 'utf8').trim());
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(join(dir, 'config.yml'))) process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
    rmSync(dir, { recursive: true, force: true });
    cleared.push(dir);
  }
  return cleared;
}
