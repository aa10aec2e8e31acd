/**
 * Tier-1 harness: a real Master with a fake clock, an in-memory (or file) registry and sinks
 * that record what the master sends. No sockets, no sleeps.
 */
import { FakeClock } from '../../lib/common/clock.ts';
import { silentLogger } from '../../lib/common/log.ts';
import type { Sink } from '../../lib/common/sink.ts';
import { parseResourcesText, type Resource } from '../../lib/common/resources/index.ts';
import { HierarchicalAllocator } from '../../lib/master/allocator/index.ts';
import { MasterRefusal } from '../../lib/master/errors.ts';
import { Master } from '../../lib/master/master.ts';
import type { MasterOptions } from '../../lib/master/state.ts';
import { MemoryRegistry, type Registry } from '../../lib/master/registry/index.ts';
import type { MasterToAgent } from '../../lib/proto/internal.ts';
import type { FrameworkInfo, Offer, SchedulerCall, SchedulerEvent, TaskInfo, TaskStatus } from '../../lib/proto/messages.ts';

export class ArraySink<E> implements Sink<E> {
  readonly events: E[] = [];
  closed = false;
  send(e: E): void {
    if (this.closed) throw new Error('send on a closed sink');
    this.events.push(e);
  }
  close(): void {
    this.closed = true;
  }
  /** Events of one type, in order. */
  of<T extends (E extends { type: infer K } ? K : never)>(type: T): Extract<E, { type: T }>[] {
    return this.events.filter((e) => (e as { type: unknown }).type === type) as Extract<E, { type: T }>[];
  }
  take(): E[] {
    return this.events.splice(0);
  }
}

export function frameworkInfo(extra: Partial<FrameworkInfo> = {}): FrameworkInfo {
  return { user: 'nobody', name: 'test-fw', failoverTimeout: 0, checkpoint: false, role: '*', capabilities: [], ...extra };
}

export class TestFramework {
  readonly sink = new ArraySink<SchedulerEvent>();
  id = '';
  streamId = '';
  constructor(readonly h: Harness) {}

  subscribe(info: FrameworkInfo = frameworkInfo()): this {
    const r = this.h.master.subscribe({ type: 'SUBSCRIBE', subscribe: { frameworkInfo: info }, ...(info.id ? { frameworkId: info.id } : {}) }, this.sink);
    const sub = this.sink.of('SUBSCRIBED')[0];
    if (r && sub) {
      this.id = sub.subscribed.frameworkId;
      this.streamId = r.streamId;
    }
    return this;
  }

  call(call: Exclude<SchedulerCall, { type: 'SUBSCRIBE' }>): void {
    try {
      this.h.master.checkCall(this.id, this.streamId);
    } catch (e) {
      if (e instanceof MasterRefusal) throw new Error(`call refused: ${e.code} ${e.message}`);
      throw e;
    }
    this.h.master.handle(call);
  }

  offers(): Offer[] {
    return this.sink.of('OFFERS').flatMap((e) => e.offers.offers);
  }

  updates(): TaskStatus[] {
    return this.sink.of('UPDATE').map((e) => e.update.status);
  }

  disconnect(): void {
    this.sink.close();
    this.h.master.disconnected(this.id, this.sink);
  }

  launch(offer: Offer, tasks: TaskInfo[], refuseSeconds?: number): void {
    this.call({
      type: 'ACCEPT',
      frameworkId: this.id,
      accept: {
        offerIds: [offer.id],
        operations: [{ type: 'LAUNCH', launch: { taskInfos: tasks } }],
        ...(refuseSeconds === undefined ? {} : { filters: { refuseSeconds } }),
      },
    });
  }
}

let uuidSeq = 0;
export function uuid(): string {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(++uuidSeq, 12);
  return b.toString('base64');
}

export class TestAgent {
  sink = new ArraySink<MasterToAgent>();
  id = '';
  streamId = '';
  constructor(
    readonly h: Harness,
    readonly resources: string = 'cpus:4;mem:4096;disk:10000;ports:[31000-32000]',
    readonly hostname = 'host1',
  ) {}

  get resourceList(): Resource[] {
    return parseResourcesText(this.resources).toArray();
  }

  async register(): Promise<this> {
    const r = await this.h.master.registerAgent(
      { type: 'REGISTER', agentInfo: { hostname: this.hostname, port: 5051, resources: this.resourceList, attributes: [] }, version: 'test' },
      this.sink,
      '127.0.0.1',
    );
    this.id = r.agentId;
    this.streamId = r.streamId;
    return this;
  }

  runTasks(): Extract<MasterToAgent, { type: 'RUN_TASK' }>[] {
    return this.sink.of('RUN_TASK');
  }

  /** Send a status update for a task, as the agent's status update manager would. */
  update(frameworkId: string, taskId: string, state: TaskStatus['state'], extra: Partial<TaskStatus> = {}): TaskStatus {
    const status: TaskStatus = {
      taskId,
      state,
      source: 'SOURCE_EXECUTOR',
      executorId: taskId,
      agentId: this.id,
      uuid: uuid(),
      timestamp: this.h.clock.now() / 1000,
      ...extra,
    };
    this.h.master.checkAgentCall(this.id, this.streamId);
    this.h.master.agentCall(this.id, { type: 'STATUS_UPDATE', frameworkId, status });
    return status;
  }

  disconnect(): void {
    this.sink.close();
    this.h.master.agentDisconnected(this.id, this.sink);
  }

  pong(): void {
    this.h.master.agentCall(this.id, { type: 'PONG' });
  }
}

export function commandTask(offer: Offer, id: string, resources = 'cpus:1;mem:128'): TaskInfo {
  return {
    name: id,
    taskId: id,
    agentId: offer.agentId,
    resources: parseResourcesText(resources).toArray(),
    command: { uris: [], shell: true, value: 'true', arguments: [] },
  };
}

export class Harness {
  readonly clock = new FakeClock();
  readonly allocator = new HierarchicalAllocator();
  readonly master: Master;
  constructor(
    readonly registry: Registry = new MemoryRegistry(),
    options: Partial<MasterOptions> = {},
  ) {
    this.master = new Master({
      clock: this.clock,
      allocator: this.allocator,
      registry: this.registry,
      logger: silentLogger,
      hostname: 'master1',
      ip: '127.0.0.1',
      port: 5050,
      version: 'test',
      allocationIntervalMs: 1000,
      agentPingTimeoutMs: 15_000,
      maxAgentPingTimeouts: 5,
      agentReregisterTimeoutMs: 600_000,
      maxCompletedFrameworks: 50,
      maxCompletedTasksPerFramework: 1000,
      rootSubmissions: true,
      ...options,
    });
  }

  static async start(registry?: Registry, options: Partial<MasterOptions> = {}): Promise<Harness> {
    const h = new Harness(registry, options);
    await h.master.start();
    return h;
  }

  framework(info?: FrameworkInfo): TestFramework {
    return new TestFramework(this).subscribe(info);
  }

  async agent(resources?: string, hostname?: string): Promise<TestAgent> {
    return new TestAgent(this, resources, hostname).register();
  }

  /** Let batched allocations and timers due now run. */
  tick(ms = 0): void {
    this.clock.advance(ms);
  }
}
