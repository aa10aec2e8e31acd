/**
 * network/port_mapping: network namespaces made ahead (--network_warm_namespaces, not in Mesos),
 * each with its veth and everything that does not depend on a container's ports, so that a
 * launch only adds its port filters. Their veths (`<prefix>w<n>`, down) wait on the host.
 */
import { describeError } from '../../../../common/errors.ts';
import type { Logger } from '../../../../common/log.ts';
import {
  applyNetStepsAsync,
  createNetnsAsync,
  isSameProcess,
  listNetns,
  readProcStat,
  removeNetns,
  type LinkInfo,
  type NetStep,
} from '../../../../linux/index.ts';
import type { Warm } from './types.ts';

export interface WarmPoolOptions {
  /** Host ends of the veths are `<prefix>w<n>`, namespaces `<prefix>-warm-...`. */
  readonly prefix: string;
  /** How many to keep ready. */
  readonly target: number;
  readonly logger?: Logger | undefined;
  /** What a namespace made ahead gets, its veth's host end named `veth`. */
  readonly steps: (veth: string) => NetStep[];
  /** The host's links (a dump at most 100 ms old). */
  readonly links: () => Map<string, LinkInfo>;
}

export class WarmPool {
  private readonly warm: Warm[] = [];
  private warmSeq = 0;
  private refilling: Promise<void> | undefined;
  /** close() was called: no namespace is made ahead any more. */
  private closed = false;

  /**
   * Namespaces made ahead are named `<prefix>-warm-<pid>-<start time>-<n>`: the agent's pid and
   * its start time (clock ticks since boot), so that neither an agent that is pid 1 of its own
   * pid namespace at every start nor a later process given a dead agent's pid keeps a dead
   * agent's namespaces alive.
   */
  private readonly warmTag = `${process.pid}-${readProcStat(process.pid)?.startTime ?? 0}`;

  constructor(private readonly opts: WarmPoolOptions) {}

  /** A namespace ready for a launch, if any. */
  take(): Warm | undefined {
    return this.warm.shift();
  }

  /** The host ends of the veths of the namespaces kept ready. */
  veths(): string[] {
    return this.warm.map((w) => w.veth);
  }

  /** Resolves once no namespace is being made (its veth has its alias, or none). */
  async idle(): Promise<void> {
    await this.refilling;
  }

  /** Warm namespaces of agents that are gone (their veths go with them). */
  removeStaleWarm(): void {
    const re = new RegExp(`^${this.opts.prefix}-warm-(\\d+)-(\\d+)-\\d+$`);
    for (const name of listNetns()) {
      const m = re.exec(name);
      if (!m) continue;
      const [pid, start] = [Number(m[1]), Number(m[2])];
      if (`${pid}-${start}` === this.warmTag || (pid !== process.pid && isSameProcess(pid, start))) continue; // ours, or a live agent's
      this.unpinName(name);
    }
  }

  unpinName(name: string): void {
    try {
      removeNetns(name);
    } catch (e) {
      this.opts.logger?.warn({ netns: name, err: describeError(e) }, 'network/port_mapping: unpinning a namespace failed');
    }
  }

  /** Make one namespace with everything that does not depend on a container's ports. */
  private async makeWarm(): Promise<Warm> {
    const prefix = this.opts.prefix;
    const taken = this.opts.links(); // a container of an earlier run may hold a name (a dump at most 100 ms old)
    while (taken.has(`${prefix}w${this.warmSeq}`)) this.warmSeq++;
    let seq = this.warmSeq++;
    let w: Warm = { name: `${prefix}-warm-${this.warmTag}-${seq}`, veth: `${prefix}w${seq}` };
    // A name already pinned is somebody's: never configure a namespace this run did not make.
    while (!(await createNetnsAsync(w.name))) {
      while (taken.has(`${prefix}w${this.warmSeq}`)) this.warmSeq++;
      seq = this.warmSeq++;
      w = { name: `${prefix}-warm-${this.warmTag}-${seq}`, veth: `${prefix}w${seq}` };
    }
    try {
      await applyNetStepsAsync({ netns: w.name }, this.opts.steps(w.veth));
    } catch (e) {
      this.unpinName(w.name);
      throw e;
    }
    return w;
  }

  /**
   * Make the namespaces kept ready, in the background; resolves once they are there. The agent
   * starts this (ready()) once recovery is done and it goes on serving; each container, once
   * isolated, and each cleanup top them up.
   */
  fillWarm(): Promise<void> {
    this.refill();
    return this.refilling ?? Promise.resolve();
  }

  refill(): void {
    const target = this.opts.target;
    if (this.closed || this.refilling || this.warm.length >= target) return;
    this.refilling = (async () => {
      try {
        while (!this.closed && this.warm.length < target) this.warm.push(await this.makeWarm());
      } catch (e) {
        this.opts.logger?.warn({ err: describeError(e) }, 'network/port_mapping: making a network namespace ahead failed');
      } finally {
        this.refilling = undefined;
      }
    })();
  }

  /** Unpin the namespaces kept ready (their veths go with them): agent shutdown, tests. */
  async close(): Promise<void> {
    // A refill queued by a launch just before (it runs after the launch) must not make more.
    this.closed = true;
    await this.refilling;
    for (const w of this.warm.splice(0)) this.unpinName(w.name);
  }
}
