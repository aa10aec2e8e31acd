/**
 * A framework for the master's scale harness (bench/scale.bench.ts, test/e2e/scale.test.ts): it
 * runs `tasks` small tasks through the real v1 scheduler API with Corral's own client
 * (lib/scheduler): on each offer it launches as many tasks as fit (at most `perOffer`), declines
 * the offers it has no use for (with a filter, as a busy framework does), acknowledges every
 * update explicitly, and keeps per task the terminal state it saw, counting any second terminal
 * update of a task (another uuid: there must be none; the same uuid: a retry of the agent's,
 * counted apart) and updates of tasks it never launched.
 */
import { SchedulerClient, offerResources, type TaskSpec } from '../../lib/scheduler/index.ts';
import type { Offer, TaskState, TaskStatus } from '../../lib/proto/messages.ts';
import { parseResourcesText } from '../../lib/common/resources/index.ts';

const TERMINAL = new Set<TaskState>(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE']);

export interface ScaleFrameworkOptions {
  readonly master: string;
  readonly name: string;
  readonly tasks: number;
  /** Each task's resources (default cpus:0.01;mem:8). */
  readonly taskResources?: string;
  /** Each task's command: `sleep S` runs S seconds on a simulated agent, `sleep inf` until killed (default `sleep 0.1`). */
  readonly command?: string;
  /** Most tasks launched on one offer (default 20). */
  readonly perOffer?: number;
  /** How long declined offers are filtered, once all tasks are launched (default 3600 s). */
  readonly doneRefuseSeconds?: number;
}

export class ScaleFramework {
  readonly client: SchedulerClient;
  launched = 0;
  /** ACCEPT calls made (each launching up to perOffer tasks). */
  accepts = 0;
  declines = 0;
  updates = 0;
  running = 0;
  /** Each task's terminal state. */
  readonly terminal = new Map<string, TaskState>();
  /** A second terminal update of a task, with another uuid (there must be none). */
  duplicateTerminal = 0;
  /** A terminal update received again with its uuid: the agent's retry before our acknowledgement reached it. */
  retransmissions = 0;
  private readonly terminalUuid = new Map<string, string>();
  /** Updates of task ids this framework never launched. */
  unknownUpdates = 0;
  /** Non-terminal states other than RUNNING/STAGING/STARTING (e.g. TASK_LOST is terminal; this counts oddities). */
  readonly states = new Map<TaskState, number>();
  /** performance.now() of each launch call, for the placement rate. */
  readonly launchTimes: number[] = [];
  readonly finishTimes: number[] = [];
  /** performance.now() of each task's first TASK_RUNNING. */
  readonly runningTimes: number[] = [];
  private readonly runningSeen = new Set<string>();
  private readonly need;
  private readonly launchedIds = new Set<string>();
  /** Task ids whose ACCEPT failed, to launch again. */
  private readonly again: string[] = [];
  launchFailures = 0;
  lastLaunchError = '';
  private allDone!: () => void;
  readonly done: Promise<void>;
  private next = 0;

  constructor(private readonly o: ScaleFrameworkOptions) {
    this.need = parseResourcesText(o.taskResources ?? 'cpus:0.01;mem:8');
    this.done = new Promise((resolve) => (this.allDone = resolve));
    this.client = new SchedulerClient({
      master: o.master,
      framework: { name: o.name, failoverTimeoutSeconds: 3600 },
      implicitAcknowledgements: false,
      reconcileOnResubscribe: true,
    });
    this.client.on('offers', (offers) => void this.onOffers(offers));
    this.client.on('update', (s) => this.onUpdate(s));
  }

  start(): Promise<string> {
    return this.client.start();
  }

  async stop(): Promise<void> {
    await this.client.stop({ teardown: true });
  }

  private async onOffers(offers: readonly Offer[]): Promise<void> {
    const unused: string[] = [];
    const calls: Promise<void>[] = [];
    for (const offer of offers) {
      const left = this.o.tasks - this.next + this.again.length;
      if (left <= 0) {
        unused.push(offer.id);
        continue;
      }
      let have = offerResources(offer);
      const specs: TaskSpec[] = [];
      const most = Math.min(left, this.o.perOffer ?? 20);
      while (specs.length < most && have.contains(this.need)) {
        have = have.minus(this.need);
        const taskId = this.again.pop() ?? `${this.o.name}-${this.next++}`;
        this.launchedIds.add(taskId);
        specs.push({ taskId, resources: this.need.toArray(), command: this.o.command ?? 'sleep 0.1' });
      }
      if (specs.length === 0) {
        unused.push(offer.id);
        continue;
      }
      this.accepts++;
      this.launched += specs.length;
      const at = performance.now();
      for (let i = 0; i < specs.length; i++) this.launchTimes.push(at);
      calls.push(
        this.client.launch(offer, specs, { refuseSeconds: 0 }).catch((e: unknown) => {
          // The ACCEPT did not reach the master (the offer's resources come back): these tasks
          // go on the next offers.
          this.launchFailures++;
          this.lastLaunchError = String(e);
          this.launched -= specs.length;
          for (const s of specs) {
            this.launchedIds.delete(s.taskId);
            this.again.push(s.taskId);
          }
        }),
      );
    }
    if (unused.length > 0) {
      this.declines += unused.length;
      const done = this.next >= this.o.tasks && this.again.length === 0;
      calls.push(this.client.decline(unused, done ? (this.o.doneRefuseSeconds ?? 3600) : 0).catch(() => {}));
    }
    await Promise.all(calls);
  }

  /** From an update's timestamp (the agent's clock: this host's) to its arrival here, ms. */
  deliveryMaxMs = 0;
  readonly dbgRunning: number[] = [];
  readonly dbgAck: number[] = [];
  deliverySumMs = 0;

  private onUpdate(s: TaskStatus): void {
    this.updates++;
    if (s.timestamp !== undefined && s.uuid !== undefined) {
      const ms = Date.now() - s.timestamp * 1000;
      this.deliveryMaxMs = Math.max(this.deliveryMaxMs, ms);
      this.deliverySumMs += ms;
    }
    this.states.set(s.state, (this.states.get(s.state) ?? 0) + 1);
    if (!this.launchedIds.has(s.taskId)) this.unknownUpdates++;
    else if (TERMINAL.has(s.state)) {
      const seen = this.terminalUuid.get(s.taskId);
      if (this.terminal.has(s.taskId)) {
        // A reconciliation answer repeats the state without a uuid: not a second update. The
        // same uuid again is the agent's retry of an update whose acknowledgement it had not
        // yet received (at-least-once delivery, as in Mesos): counted, and not an error.
        if (s.uuid !== undefined && s.uuid === seen) this.retransmissions++;
        else if (s.uuid !== undefined) this.duplicateTerminal++;
      } else {
        this.terminal.set(s.taskId, s.state);
        if (s.uuid !== undefined) this.terminalUuid.set(s.taskId, s.uuid);
        this.finishTimes.push(performance.now());
        if (this.terminal.size === this.o.tasks) this.allDone();
      }
    } else if (s.state === 'TASK_RUNNING' && s.uuid !== undefined && !this.runningSeen.has(s.taskId)) {
      this.runningSeen.add(s.taskId);
      this.running++;
      this.runningTimes.push(performance.now());
    }
    if (process.env.SCALE_DEBUG && s.uuid !== undefined) {
      const a0 = Date.now();
      if (s.state === 'TASK_RUNNING') this.dbgRunning.push(a0 - s.timestamp! * 1000);
      void this.client.acknowledge(s).then(
        () => this.dbgAck.push(Date.now() - a0),
        () => {},
      );
      return;
    }
    void this.client.acknowledge(s).catch(() => {});
  }
}
