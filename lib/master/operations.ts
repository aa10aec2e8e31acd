/**
 * Resource operations (RESERVE, UNRESERVE, CREATE, DESTROY), from a framework's ACCEPT or the
 * operator endpoints: validation against the agent's checkpointed resources, the ACLs for each,
 * applying a conversion, and recording the agent's checkpointed set (on the agent and, batched,
 * in the registry).
 */
import type { TimerHandle } from '../common/clock.ts';
import type { ResourceInput } from '../common/resources/index.ts';
import { MasterRefusal } from './errors.ts';
import type { Offers } from './offers.ts';
import { type AgentRecord, usedOn } from './records.ts';
import type { MasterState } from './state.ts';
import { type ResourceConversion, type ResourceOperationType, validateResourceOperation } from './validation.ts';

const REGISTRY_RETRY_MS = 1000;

export class ResourceOperations {
  constructor(
    private readonly s: MasterState,
    private readonly offerBook: Offers,
  ) {}

  /** Validate a resource operation against the agent's checkpointed resources and use (a MasterRefusal, INVALID, when it is not valid). */
  validateConversion(
    agent: AgentRecord,
    type: ResourceOperationType,
    list: readonly ResourceInput[],
    who: { principal?: string; roles?: readonly string[] },
  ): ResourceConversion {
    return validateResourceOperation(type, list, {
      ...(who.principal !== undefined ? { principal: who.principal } : {}),
      ...(who.roles !== undefined ? { roles: who.roles } : {}),
      checkpointed: agent.checkpointed,
      volumeInUse: (role, id) => {
        for (const used of usedOn(agent).values()) {
          for (const v of used.persistentVolumes()) if (v.role === role && v.disk!.persistence!.id === id) return true;
        }
        return false;
      },
    });
  }

  /**
   * Throw a MasterRefusal (FORBIDDEN) when `principal` may not make this conversion
   * (reserve_resources per role, unreserve_resources per reservation principal, create_volumes
   * per role, destroy_volumes per creator).
   */
  authorizeConversion(conv: ResourceConversion, principal: string | undefined): void {
    const who = principal === undefined ? 'a request without a principal' : `principal '${principal}'`;
    const denied = (why: string): MasterRefusal => new MasterRefusal('FORBIDDEN', `Not authorized: ${who} may not ${why}`);
    switch (conv.type) {
      case 'RESERVE':
        for (const r of conv.to) if (!this.s.authorize('reserve_resources', principal, r.role)) throw denied(`reserve resources for role '${r.role}'`);
        return;
      case 'UNRESERVE':
        for (const r of conv.from) {
          const p = r.reservation?.principal;
          if (!this.s.authorize('unreserve_resources', principal, p))
            throw denied(`unreserve resources reserved by ${p === undefined ? 'no principal' : `'${p}'`}`);
        }
        return;
      case 'CREATE':
        for (const r of conv.to) if (!this.s.authorize('create_volumes', principal, r.role)) throw denied(`create volumes for role '${r.role}'`);
        return;
      case 'DESTROY':
        for (const r of conv.from) {
          const p = r.disk?.persistence?.principal;
          if (!this.s.authorize('destroy_volumes', principal, p)) throw denied(`destroy volumes created by ${p === undefined ? 'no principal' : `'${p}'`}`);
        }
        return;
    }
  }

  /** The refusal (CONFLICT) of a conversion whose resources are not there or not free. */
  insufficient(conv: ResourceConversion): MasterRefusal {
    return new MasterRefusal(
      'CONFLICT',
      conv.type === 'CREATE'
        ? `Insufficient disk resources: ${conv.from.toString()} are not available`
        : `Invalid ${conv.type} operation: ${conv.from.toString()} are not available`,
    );
  }

  /**
   * Apply a valid conversion to the master's view of the agent (the allocator has been told),
   * then tell the agent and the registry the agent's full checkpointed set.
   */
  applyConversion(agent: AgentRecord, conv: ResourceConversion): void {
    agent.total = agent.total.minus(conv.from).plus(conv.to);
    this.s.metrics.inc(`master/operations/${conv.type.toLowerCase()}`);
    this.s.log.info(
      { agentId: agent.id, operation: conv.type, from: conv.from.toString(), to: conv.to.toString() },
      `applied ${conv.type} on agent ${agent.id}: ${(conv.type === 'CREATE' ? conv.to : conv.from).toString()}`,
    );
    this.checkpointAgent(agent);
  }

  private readonly registryDirty = new Set<AgentRecord>();
  /** A failed write of checkpointed resources is tried again after this timer. */
  private registryRetry: TimerHandle | undefined;

  stop(): void {
    this.registryRetry?.cancel();
  }

  private checkpointAgent(agent: AgentRecord): void {
    const resources = agent.checkpointed.toArray();
    this.s.sendAgent(agent, { type: 'CHECKPOINT_RESOURCES', resources });
    // The registry records the change with the others made in the same turn: one write for a
    // burst of operations instead of one per operation (bench/volumes).
    this.registryDirty.add(agent);
    if (this.registryDirty.size === 1) queueMicrotask(() => this.flushRegistry());
  }

  private flushRegistry(): void {
    const agents = Array.from(this.registryDirty).filter((a) => this.s.agents.get(a.id) === a);
    this.registryDirty.clear();
    if (agents.length === 0) return;
    const batch = agents.map((a) => ({
      id: a.id,
      info: a.info,
      checkpointedResources: a.checkpointed.toArray(),
      ...(a.principal === undefined ? {} : { principal: a.principal }),
    }));
    this.s.opts.registry.updateAgents(batch).catch((e: unknown) => {
      this.s.registryFailed(e, "cannot record the agents' checkpointed resources in the registry; trying again in 1 s", { agents: batch.length });
      for (const a of agents) this.registryDirty.add(a);
      this.registryRetry ??= this.s.opts.clock.setTimer(REGISTRY_RETRY_MS, () => {
        this.registryRetry = undefined;
        this.flushRegistry();
      });
    });
  }

  /**
   * Operator RESERVE/UNRESERVE/CREATE/DESTROY (/master/reserve …): validate, rescind offers on
   * the agent until what the operation needs is free, then apply it. A MasterRefusal says why
   * it is not applied.
   */
  operatorOperation(agentId: string, type: ResourceOperationType, list: readonly ResourceInput[], principal?: string): void {
    const agent = this.s.agents.get(agentId);
    if (!agent) throw new MasterRefusal('NOT_FOUND', `No agent found with specified ID`);
    const conv = this.validateConversion(agent, type, list, principal !== undefined ? { principal } : {});
    this.authorizeConversion(conv, principal);
    if (!agent.total.contains(conv.from)) throw this.insufficient(conv);
    const alloc = this.s.opts.allocator;
    for (const offerId of Array.from(agent.offers)) {
      if (alloc.free(agent.id).contains(conv.from)) break;
      const offer = this.s.offers.get(offerId);
      if (offer) this.offerBook.removeOffer(offer, { rescind: true, refuseMs: 5000 });
    }
    if (!alloc.free(agent.id).contains(conv.from)) throw this.insufficient(conv);
    alloc.updateAgent(agent.id, agent.total.minus(conv.from).plus(conv.to));
    this.applyConversion(agent, conv);
    this.s.loop.request();
  }
}
