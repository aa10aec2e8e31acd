/**
 * The only module that loads the native addon (build/Release/corral_native.node). Everything
 * else in lib/ reaches the kernel through the typed wrappers of lib/linux, which call
 * `native()`. Loading is lazy: importing lib/linux never fails; the first call does, with a
 * clear error, if the addon was not built.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CorralError } from '../common/errors.ts';
import { NativeError, type NativeErrorFields } from './errors.ts';

/** Build-time options of the addon (gyp variables, docs/architecture.md §4). */
export interface NativeFeatures {
  /** Built with `corral_network_isolator=1` (rtnetlink and tc): `npm run build:native:netiso`. */
  readonly networkIsolator: boolean;
}

export interface NetnsInfo {
  readonly name: string;
  /** The file that pins it, /run/netns/NAME. */
  readonly path: string;
  readonly dev: number;
  /** The namespace's inode number (as in `readlink /proc/PID/ns/net`). */
  readonly inode: number;
}

/** The addon's exports, as native/binding.cc declares them. */
export interface NativeBinding {
  readonly features: NativeFeatures;
  setErrorClass(cls: new (message: string, fields: NativeErrorFields) => Error): void;
  createNetns(name: string): boolean;
  createNetns(name: string, callback: (err: Error | null, created?: boolean) => void): void;
  removeNetns(name: string): boolean;
  removeNetns(name: string, callback: (err: Error | null, removed?: boolean) => void): void;
  getNetns(name: string): NetnsInfo | undefined;
  /** Hard-link `source` as `root`/`dir`/`name`, following no symlink below `root` (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS). */
  linkBeneath(source: string, root: string, dir: string, name: string): void;
  makeWhiteout(path: string): void;
  setXattr(path: string, name: string, value: string): void;
  getXattr(path: string, name: string): string | undefined;
  /** open(2) of `path` below the directory `root`, never leaving it (fs.ts). Returns the fd. */
  openBeneath(root: string, path: string, options?: { directory?: boolean; walk?: boolean }): number;
  openBeneath(
    root: string,
    path: string,
    options: { directory?: boolean; walk?: boolean } | undefined,
    callback: (err: Error | null, fd?: number) => void,
  ): void;
  /**
   * Listen for a cgroup v1 notification on `file` of cgroup directory `dir` (eventfd through
   * cgroup.event_control); `callback(count)` runs on the JS thread at each signal. Returns an id.
   */
  cgroupEventListen(dir: string, file: string, args: string | undefined, callback: (count: number) => void): number;
  /** Stop listening; false if `id` is unknown (closed already). */
  cgroupEventClose(id: number): boolean;
  // Only in a build with the network isolator (typed in net.ts):
  listLinks?(options: { netns?: string; pid?: number }): import('./net_types.ts').LinkInfo[];
  netApply?(spec: { pid?: number; netns?: string; host?: { pid?: number; netns?: string }; steps: Uint8Array }, callback?: (err: Error | null) => void): void;
  netDeleteLinkGroup?(group: number, callback: (err: Error | null) => void): void;
  netFilters?(link: string, parent: number, ns: { pid?: number; netns?: string }): import('./net_types.ts').FilterId[];
  netQdiscs?(link: string, ns: { pid?: number; netns?: string }): import('./net_types.ts').QdiscStats[];
  netQdiscs?(link: string, ns: { pid?: number; netns?: string }, callback: (err: Error | null, qdiscs?: import('./net_types.ts').QdiscStats[]) => void): void;
  netTcpRtts?(ns: { pid?: number; netns?: string }): number[];
  netTcpRtts?(ns: { pid?: number; netns?: string }, callback: (err: Error | null, rtts?: number[]) => void): void;
  netFreshSysctls?(paths: readonly string[]): (string | null)[];
}

/** The project root: the nearest directory above this file that holds binding.gyp. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    dir = dirname(dir);
  }
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** Where node-gyp puts what it builds. */
export const nativeBuildDir: string = join(projectRoot(), 'build', 'Release');
export const nativeAddonPath: string = join(nativeBuildDir, 'corral_native.node');
const supervisorFile = join(nativeBuildDir, 'corral-containerizer');

let loaded: NativeBinding | undefined;

/** The addon, loaded on first use. Throws CorralError NATIVE_NOT_BUILT if it is not built. */
export function native(): NativeBinding {
  if (loaded) return loaded;
  let binding: NativeBinding;
  try {
    binding = createRequire(import.meta.url)(nativeAddonPath) as NativeBinding;
  } catch (cause) {
    throw new CorralError('NATIVE_NOT_BUILT', `the native addon could not be loaded from ${nativeAddonPath}: run \`npm install\` or \`npm run build:native\``, {
      cause,
    });
  }
  binding.setErrorClass(NativeError);
  loaded = binding;
  return binding;
}

/** The build-time options of the addon (loads it). */
export function nativeFeatures(): NativeFeatures {
  return native().features;
}

const REBUILD: Record<keyof NativeFeatures, string> = {
  networkIsolator: 'rebuild with `npm run build:native:netiso` (the configure-time network isolator option)',
};

/** Throw CorralError NATIVE_FEATURE_MISSING, saying how to rebuild, if `feature` is not built in. */
export function requireFeature(feature: keyof NativeFeatures): NativeBinding {
  const binding = native();
  if (!binding.features[feature]) {
    throw new CorralError('NATIVE_FEATURE_MISSING', `this build of the native addon has no ${feature} support: ${REBUILD[feature]}`);
  }
  return binding;
}

/**
 * Path of the supervisor executable, corral-containerizer (one per container: it launches the
 * command and supervises it).
 * Throws CorralError NATIVE_NOT_BUILT if it is not there.
 */
export function supervisorPath(): string {
  if (!existsSync(supervisorFile)) {
    throw new CorralError('NATIVE_NOT_BUILT', `${supervisorFile} is missing: run \`npm install\` or \`npm run build:native\``);
  }
  return supervisorFile;
}
