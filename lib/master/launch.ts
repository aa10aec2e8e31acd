/**
 * ACCEPT: the offers are checked and taken, then each operation in turn: resource operations
 * (operations.ts) and LAUNCH, where each task is authorized, validated, fitted into what is
 * left of the offers and sent to the agent as RUN_TASK. What is not used goes back to the
 * allocator. A refused ACCEPT, operation or task is a MasterRefusal, caught here: the call's tasks
 * get TASK_LOST, an operation is dropped with a WARN, a task gets TASK_ERROR.
 */
import { describeError } from '../common/errors.ts';
import { Resources } from '../common/resources/index.ts';
import type { Operation, TaskInfo } from '../proto/messages.ts';
import { MasterRefusal } from './errors.ts';
import type { Offers } from './offers.ts';
import type { ResourceOperations } from './operations.ts';
import { type AgentRecord, type Framework, type MasterExecutorRecord, Task } from './records.ts';
import type { MasterState } from './state.ts';
import type { TaskBook } from './tasks.ts';
import { type ResourceConversion, type ValidTask, validateTask } from './validation.ts';

export class Launcher {
  constructor(
    private readonly s: MasterState,
    private readonly offerBook: Offers,
    private readonly resourceOps: ResourceOperations,
    private readonly taskBook: TaskBook,
  ) {}

  accept(fw: Framework, offerIds: readonly string[], operations: readonly Operation[], refuseSeconds: number | undefined): void {
    const launches = operations.flatMap((op) => (op.type === 'LAUNCH' ? op.launch.taskInfos : []));
    try {
      this.checkOffers(fw, offerIds);
    } catch (e) {
      if (!(e instanceof MasterRefusal)) throw e;
      for (const id of offerIds) {
        const offer = fw.offers.get(id);
        if (offer) this.offerBook.removeOffer(offer, { rescind: false });
      }
      for (const task of launches) {
        this.s.metrics.inc('master/task_lost/source_master/reason_invalid_offers');
        this.s.send(fw, {
          type: 'UPDATE',
          update: {
            status: this.s.masterStatus(task.taskId, task.agentId, 'TASK_LOST', 'REASON_INVALID_OFFERS', `Task launched with invalid offers: ${e.message}`),
          },
        });
      }
      this.s.metrics.inc('master/tasks_lost', launches.length);
      if (launches.length > 0)
        this.s.log.info({ frameworkId: fw.id, tasks: launches.map((t) => t.taskId) }, `tasks of framework ${fw.id} are TASK_LOST: ${e.message}`);
      return;
    }
    const offers = offerIds.map((id) => fw.offers.get(id)!);
    const agent = this.s.agents.get(offers[0]!.agentId)!;
    let pool = Resources.EMPTY;
    for (const offer of offers) {
      offer.timer?.cancel();
      this.s.offers.delete(offer.id);
      fw.offers.delete(offer.id);
      agent.offers.delete(offer.id);
      pool = pool.plus(offer.resources);
    }
    if (!agent.connected) {
      if (launches.length > 0)
        this.s.log.info(
          { frameworkId: fw.id, agentId: agent.id, tasks: launches.map((t) => t.taskId) },
          `tasks of framework ${fw.id} are TASK_LOST: agent ${agent.id} is disconnected`,
        );
      for (const task of launches) {
        this.s.send(fw, {
          type: 'UPDATE',
          update: { status: this.s.masterStatus(task.taskId, agent.id, 'TASK_LOST', 'REASON_AGENT_DISCONNECTED', 'Agent is disconnected') },
        });
      }
      this.s.opts.allocator.recoverResources(fw.id, agent.id, pool, this.s.now());
      this.s.loop.request();
      return;
    }
    const launchedHere = new Set<string>();
    let converted = Resources.EMPTY;
    for (const op of operations) {
      if (op.type === 'UNSUPPORTED') {
        this.s.log.warn({ frameworkId: fw.id, operation: op.name }, 'offer operation not supported; dropped');
        continue;
      }
      if (op.type !== 'LAUNCH') {
        const list =
          op.type === 'RESERVE'
            ? op.reserve.resources
            : op.type === 'UNRESERVE'
              ? op.unreserve.resources
              : op.type === 'CREATE'
                ? op.create.volumes
                : op.destroy.volumes;
        let conv: ResourceConversion;
        try {
          conv = this.resourceOps.validateConversion(agent, op.type, list, { principal: fw.info.principal, roles: fw.info.roles ?? [fw.info.role] });
          this.resourceOps.authorizeConversion(conv, fw.info.principal);
          if (!pool.contains(conv.from)) throw this.resourceOps.insufficient(conv);
        } catch (e) {
          if (!(e instanceof MasterRefusal)) throw e;
          this.s.log.warn({ frameworkId: fw.id, agentId: agent.id, operation: op.type }, `offer operation dropped: ${e.message}`);
          continue;
        }
        pool = pool.minus(conv.from).plus(conv.to);
        converted = converted.plus(conv.to);
        this.s.opts.allocator.updateAllocation(fw.id, agent.id, conv.from, conv.to);
        this.resourceOps.applyConversion(agent, conv);
        continue;
      }
      for (const task of op.launch.taskInfos) {
        const user = task.command?.user ?? task.executor?.command?.user ?? fw.info.user;
        if (!this.s.authorize('run_tasks', fw.info.principal, user)) {
          this.taskError(fw, task, `Not authorized to run tasks as user '${user}'`, 'REASON_TASK_UNAUTHORIZED');
          continue;
        }
        // Each task is launched whole or answered with TASK_ERROR: a failure here (a task that
        // cannot be checked or sent to the agent) leaves no state behind and its resources in
        // the pool, and the call's other tasks go on.
        try {
          let valid: ValidTask;
          try {
            valid = validateTask(task, {
              frameworkId: fw.id,
              agentId: agent.id,
              taskIdInUse: (id) => fw.tasks.has(id) || launchedHere.has(id),
              knownExecutor: (id) => fw.executors.get(agent.id)?.get(id)?.info,
              frameworkCheckpoints: fw.info.checkpoint,
              agentCheckpoints: agent.info.checkpoint ?? true,
            });
          } catch (e) {
            if (!(e instanceof MasterRefusal)) throw e;
            this.taskError(fw, task, e.message);
            continue;
          }
          const need = valid.resources.plus(valid.executorResources);
          if (!pool.contains(need)) {
            this.taskError(fw, task, `Task uses more resources ${need.toString()} than available ${pool.toString()}`);
            continue;
          }
          this.launch(fw, agent, task, valid.resources, valid.executorResources);
          pool = pool.minus(need);
          launchedHere.add(task.taskId);
        } catch (e) {
          this.s.log.warn(
            { frameworkId: fw.id, agentId: agent.id, taskId: task.taskId, err: describeError(e) },
            'task cannot be launched; answered with TASK_ERROR',
          );
          this.taskError(fw, task, `Task cannot be launched: ${describeError(e)}`);
        }
      }
    }
    // What was not used is declined with the call's filters; what an operation converted goes
    // back without one.
    const speculative = pool.filter((r) => converted.contains(r));
    const unused = pool.filter((r) => !converted.contains(r));
    if (!unused.isEmpty()) this.s.opts.allocator.recoverResources(fw.id, agent.id, unused, this.s.now(), this.offerBook.refuseMs(refuseSeconds));
    if (!speculative.isEmpty()) this.s.opts.allocator.recoverResources(fw.id, agent.id, speculative, this.s.now());
    this.s.loop.request();
  }

  /** Throw a MasterRefusal (INVALID) when the ACCEPT's offers cannot be used together. */
  private checkOffers(fw: Framework, offerIds: readonly string[]): void {
    const invalid = (why: string): MasterRefusal => new MasterRefusal('INVALID', why);
    if (offerIds.length === 0) throw invalid('No offers specified');
    if (new Set(offerIds).size !== offerIds.length) throw invalid('Duplicate offers found');
    let agentId: string | undefined;
    for (const id of offerIds) {
      const offer = this.s.offers.get(id);
      if (!offer) throw invalid(`Offer ${id} is no longer valid`);
      if (offer.frameworkId !== fw.id) throw invalid(`Offer ${id} has invalid framework ${offer.frameworkId} while framework ${fw.id} is expected`);
      if (agentId !== undefined && offer.agentId !== agentId) throw invalid('Aggregated offers must belong to one single agent');
      agentId = offer.agentId;
      if (!this.s.agents.has(offer.agentId)) throw invalid(`Offer ${id} is outstanding on an unknown agent`);
    }
  }

  private taskError(fw: Framework, task: TaskInfo, message: string, reason: 'REASON_TASK_INVALID' | 'REASON_TASK_UNAUTHORIZED' = 'REASON_TASK_INVALID'): void {
    this.s.metrics.inc('master/tasks_error');
    this.s.metrics.inc(`master/task_error/source_master/${reason.toLowerCase()}`);
    const status = this.s.masterStatus(task.taskId, task.agentId, 'TASK_ERROR', reason, message);
    this.s.logTaskState(task.taskId, fw.id, task.agentId, status);
    this.s.send(fw, { type: 'UPDATE', update: { status } });
  }

  /** Launch one task; when sending RUN_TASK throws, nothing of the task is kept. */
  private launch(fw: Framework, agent: AgentRecord, info: TaskInfo, resources: Resources, executorResources: Resources): void {
    const executorId = info.executor?.executorId;
    const user = info.command?.user ?? info.executor?.command?.user ?? fw.info.user;
    const task = new Task(info, fw.id, agent.id, executorId, resources, user);
    task.statuses.push({ state: 'TASK_STAGING', timestamp: this.s.now() / 1000 });
    const outgoing: TaskInfo = { ...info, resources: resources.toArray() };
    this.s.sendAgent(agent, { type: 'RUN_TASK', frameworkId: fw.id, frameworkInfo: fw.info, task: outgoing });
    this.s.log.info(
      { taskId: info.taskId, frameworkId: fw.id, agentId: agent.id, resources: resources.toString() },
      `launching task ${info.taskId} of framework ${fw.id} (${fw.info.name}) on agent ${agent.id} at ${agent.info.hostname} with ${resources.toString()}`,
    );
    if (info.executor && !fw.executors.get(agent.id)?.has(info.executor.executorId)) {
      const ex: MasterExecutorRecord = { info: { ...info.executor, frameworkId: fw.id }, resources: executorResources };
      this.taskBook.addExecutor(fw, agent, ex);
    }
    this.taskBook.addTask(fw, agent, task);
  }
}
