/**
 * The agent's image provider from its flags (--image_providers, --docker_registry,
 * --docker_store_dir, --docker_config, --image_provisioner_backend): checked as Mesos checks
 * them at start (the isolators it needs, root), each problem one FlagError naming the flag.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ImageProvider } from '../agent/containerizer/images/provider.ts';
import { dockerConfigCredentials } from '../agent/containerizer/images/registry.ts';
import { parseIsolation } from '../agent/containerizer/registry.ts';
import type { agentFlags } from '../agent/flags.ts';
import type { AgentPaths } from '../agent/paths.ts';
import { describeError } from '../common/errors.ts';
import { FlagError, type FlagValues } from '../common/flags.ts';
import type { Logger } from '../common/log.ts';

export async function imageProviderOf(flags: FlagValues<typeof agentFlags>, paths: AgentPaths, log: Logger): Promise<ImageProvider | undefined> {
  if (!flags.image_providers?.includes('docker')) return undefined;
  const isolation = parseIsolation(flags.isolation);
  for (const needed of ['filesystem/linux', 'docker/runtime'] as const) {
    if (!isolation.includes(needed)) throw new FlagError('image_providers', `docker needs --isolation to include ${needed} (it has ${isolation.join(',')})`);
  }
  if (process.getuid?.() !== 0) throw new FlagError('image_providers', 'images need root (the agent mounts overlay root filesystems in the containers)');
  if (flags.docker_registry.startsWith('/') && !isDirectory(flags.docker_registry))
    throw new FlagError('docker_registry', `${flags.docker_registry} is not a directory (a local --docker_registry holds one OCI image layout per repository)`);
  if (flags.image_provisioner_backend === 'overlay' && !overlaySupported())
    throw new FlagError(
      'image_provisioner_backend',
      'overlay: this kernel has no overlay file system (see /proc/filesystems); use --image_provisioner_backend=copy',
    );
  let credentials;
  if (flags.docker_config !== undefined) {
    const text = flags.docker_config.trimStart().startsWith('{') ? flags.docker_config : readConfig(flags.docker_config);
    try {
      credentials = dockerConfigCredentials(text, '--docker_config');
    } catch (e) {
      throw new FlagError('docker_config', describeError(e).replace(/^--docker_config: /, ''));
    }
  }
  const provider = new ImageProvider(
    {
      dir: flags.docker_store_dir ?? join(paths.workDir, 'store', 'docker'),
      defaultRegistry: flags.docker_registry.startsWith('/') ? flags.docker_registry : new URL(flags.docker_registry),
      stallTimeoutMs: flags.fetcher_stall_timeout,
      log,
      ...(credentials ? { credentials } : {}),
    },
    join(paths.workDir, 'provisioner'),
    flags.image_provisioner_backend === 'copy' ? 'copy' : 'overlay',
  );
  await provider.open();
  return provider;
}

function overlaySupported(): boolean {
  try {
    return /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return true; // let the mount say
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readConfig(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new FlagError('docker_config', `cannot read ${path}: ${describeError(e)}`);
  }
}
