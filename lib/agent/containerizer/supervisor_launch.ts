/**
 * The steps around a container's supervisor: the launcher's and the isolators' set-up before
 * its command may run, and their teardown after it ended (or when a launch fails half-way).
 */
import { CorralError, describeError } from '../../common/errors.ts';
import type { StartedSupervisor, SupervisorSpawner } from '../../linux/index.ts';
import type { LaunchSpec } from './containerizer.ts';
import type { ContainerConfig, Isolator, Launcher, Namespace } from './isolator.ts';
import { linkVolumes } from '../volumes.ts';

/** What the steps work with: the containerizer's launcher, isolators and options. */
export interface ContainerSteps {
  readonly launcher: Launcher;
  /** In `--isolation` order. */
  readonly isolators: readonly Isolator[];
  /** Persistent volumes as bind mounts (else symlinks in the sandbox). */
  readonly mountVolumes: boolean;
  /** The supervisor executable (default: the built corral-containerizer). */
  readonly supervisor: string | undefined;
  /** Starts the supervisors (the agent's resident spawner). */
  readonly spawner: SupervisorSpawner;
}

/**
 * prepare each → start the supervisor (--wait-go, in the namespaces the isolators asked for) →
 * launcher.attach + isolate each with the command's pid. Returns the supervisor, its command
 * not released yet. A failure on the way aborts the supervisor and cleans up every step taken,
 * in reverse, then throws CONTAINER_LAUNCH_FAILED.
 */
export async function startContainer(ctx: ContainerSteps, spec: LaunchSpec): Promise<StartedSupervisor> {
  const id = spec.containerId;
  const launchFailed = async (e: unknown, steps: readonly Isolator[], launcherUsed: boolean, sup?: StartedSupervisor): Promise<never> => {
    if (sup) {
      sup.abort(); // the supervisor kills the command, which never ran, and records "aborted"
      await sup.exited;
    }
    const errors = await tearDown(ctx, id, steps, launcherUsed, launcherUsed && sup !== undefined);
    const also = errors.length > 0 ? ` (cleaning up after it failed too: ${errors.join('; ')})` : '';
    throw new CorralError('CONTAINER_LAUNCH_FAILED', `container ${id}: ${describeError(e)}${also}`, { cause: e });
  };

  // prepare, one after another in --isolation order.
  const config: ContainerConfig = {
    containerId: id,
    sandbox: spec.sandbox,
    resources: spec.resources,
    ...(spec.user === undefined ? {} : { user: spec.user }),
  };
  const prepared: Isolator[] = [];
  const namespaces = new Set<Namespace>();
  let netns: string | undefined;
  try {
    await ctx.launcher.prepare?.(id);
  } catch (e) {
    return launchFailed(e, prepared, true);
  }
  for (const iso of ctx.isolators) {
    prepared.push(iso); // a failed prepare is cleaned up too: it may have done part of its work
    try {
      const req = await iso.prepare?.(config);
      for (const ns of req?.namespaces ?? []) namespaces.add(ns);
      if (req?.netns !== undefined) netns = req.netns;
    } catch (e) {
      return launchFailed(new CorralError('ISOLATOR_FAILED', `${iso.name}: prepare: ${describeError(e)}`, { cause: e }), prepared, true);
    }
  }

  // Persistent volumes: bind mounts in the container's mount namespace, or symlinks where
  // none can be made.
  const volumes = spec.volumes ?? [];
  const binds = ctx.mountVolumes ? volumes.map((v) => ({ source: v.source, target: v.containerPath, readOnly: v.readOnly })) : [];
  if (binds.length > 0 || spec.rootfs) namespaces.add('mount');
  let sup: StartedSupervisor;
  try {
    if (!ctx.mountVolumes) linkVolumes(spec.sandbox, volumes);
    sup = await ctx.spawner.start({
      sandbox: spec.sandbox,
      runDir: spec.runDir,
      argv: spec.argv,
      env: spec.env,
      ...(spec.user === undefined ? {} : { user: spec.user }),
      ...(ctx.supervisor === undefined ? {} : { executable: ctx.supervisor }),
      ...(namespaces.size > 0 ? { namespaces: [...namespaces].sort() } : {}),
      ...(netns !== undefined ? { netns } : {}),
      ...(binds.length > 0 ? { binds } : {}),
      ...(spec.rootfs ? { rootfs: spec.rootfs } : {}),
    });
  } catch (e) {
    return launchFailed(e, prepared, true);
  }

  // isolate: the command's pid, before it may run.
  try {
    await ctx.launcher.attach?.(id, sup.childPid);
  } catch (e) {
    return launchFailed(new CorralError('LAUNCHER_FAILED', `${ctx.launcher.name} launcher: ${describeError(e)}`, { cause: e }), prepared, true, sup);
  }
  for (const iso of ctx.isolators) {
    try {
      await iso.isolate?.(id, sup.childPid, sup.pid);
    } catch (e) {
      return launchFailed(new CorralError('ISOLATOR_FAILED', `${iso.name}: isolate: ${describeError(e)}`, { cause: e }), prepared, true, sup);
    }
  }

  return sup;
}

/**
 * Destroy (when asked) and clean up: `isolators` in reverse order, then the launcher. Every
 * step is attempted; returns the failures.
 */
export async function tearDown(
  ctx: { readonly launcher: Launcher },
  containerId: string,
  isolators: readonly Isolator[],
  launcher: boolean,
  destroy: boolean,
): Promise<string[]> {
  const errors: string[] = [];
  if (destroy) {
    try {
      await ctx.launcher.destroy?.(containerId);
    } catch (e) {
      errors.push(`${ctx.launcher.name} launcher: destroy: ${describeError(e)}`);
    }
  }
  for (const iso of [...isolators].reverse()) {
    try {
      await iso.cleanup?.(containerId);
    } catch (e) {
      errors.push(`${iso.name}: cleanup: ${describeError(e)}`);
    }
  }
  if (launcher) {
    try {
      await ctx.launcher.cleanup?.(containerId);
    } catch (e) {
      errors.push(`${ctx.launcher.name} launcher: cleanup: ${describeError(e)}`);
    }
  }
  return errors;
}
