/**
 * Hierarchical DRF allocator: a pure state machine (no I/O, no timers; time is passed in).
 *
 * An allocation run walks the agents; for each agent the roles are taken in ascending weighted
 * dominant share, and within a role its frameworks in ascending dominant share (ties by name),
 * as Mesos's hierarchical allocator does. The first eligible framework of a role receives the
 * agent's unreserved resources plus those reserved for its role; later roles receive only their
 * reservations. Revocable resources go, in a separate allocation, to the first framework in the
 * same order that has the REVOCABLE_RESOURCES capability.
 *
 * Shares count scalar resources, revocable ones included (as Mesos's sorter), against the cluster's total.
 * Keys are sorted once per agent: share changes made during an agent's walk are applied to the
 * heaps when the walk ends.
 */
import { CorralError } from '../../common/errors.ts';
import { Resources } from '../../common/resources/index.ts';
import { AgentState, FrameworkClient } from './records.ts';
import type { Allocation, AllocatorOptions, AllocatorStats, FrameworkSpec } from './types.ts';
import { addVec, newVec, subVec } from './vec.ts';
import { AllocationWalk } from './walk.ts';

const DEFAULT_MAX_FILTER_MS = 365 * 24 * 3600 * 1000;

/** What an allocator call that breaks the allocator's contract is refused with. */
export type AllocatorCode = 'EXISTS' | 'NOT_ALLOCATED' | 'NOT_IN_TOTAL' | 'UNKNOWN_FRAMEWORK' | 'UNKNOWN_AGENT' | 'INVALID';

export class AllocatorError extends CorralError {
  declare readonly code: AllocatorCode;
  constructor(code: AllocatorCode, message: string) {
    super(code, message);
    this.name = 'AllocatorError';
  }
}

export class HierarchicalAllocator extends AllocationWalk {
  private readonly maxFilterMs: number;
  private runs = 0;
  /** Slots of removed frameworks, for the next ones added (FrameworkClient.slot). */
  private readonly freeSlots: number[] = [];

  constructor(options: AllocatorOptions = {}) {
    super(options);
    for (const [role, w] of options.weights ?? []) this.setWeight(role, w);
    this.maxFilterMs = options.maxFilterMs ?? DEFAULT_MAX_FILTER_MS;
  }

  // -------------------------------------------------------------------------------------------
  // Frameworks

  addFramework(id: string, spec: FrameworkSpec, active = true): void {
    if (this.frameworks.has(id)) throw new AllocatorError('EXISTS', `framework ${id} is already known`);
    const fw = new FrameworkClient(id, this.role(spec.role), spec.revocable, this.freeSlots.pop() ?? this.frameworks.size);
    fw.active = active;
    this.frameworks.set(id, fw);
    this.frameworkOrder.add(fw);
    fw.role.members.add(fw);
    const orphan = this.orphanVec.get(id);
    if (orphan) {
      this.orphanVec.delete(id);
      addVec(fw.alloc, orphan);
      addVec(fw.role.alloc, orphan);
      this.sharesStale = true;
    }
    if (fw.revocable) this.revocableFrameworks++;
    this.place(fw);
    this.epoch++;
  }

  /** Forget a framework; whatever it still holds is returned to the agents. */
  removeFramework(id: string): void {
    const fw = this.frameworks.get(id);
    if (!fw) return;
    // Rare: walking every agent keeps the allocation path free of per-framework indexes.
    for (const agent of this.agentList) {
      const held = agent.alloc.get(id);
      if (held) this.release(fw, agent, held);
    }
    this.dropFilters(fw);
    this.unplace(fw);
    fw.role.members.delete(fw);
    subVec(fw.role.alloc, fw.alloc);
    this.refreshShare(fw.role);
    this.maybeDropRole(fw.role);
    if (fw.revocable) this.revocableFrameworks--;
    this.frameworks.delete(id);
    this.frameworkOrder.remove(fw);
    this.freeSlots.push(fw.slot);
  }

  updateFramework(id: string, spec: FrameworkSpec): void {
    const fw = this.mustFramework(id);
    if (fw.role.name !== spec.role) {
      fw.uncoverAll();
      this.unplace(fw);
      const old = fw.role;
      old.members.delete(fw);
      subVec(old.alloc, fw.alloc);
      this.refreshShare(old);
      this.maybeDropRole(old);
      fw.role = this.role(spec.role);
      fw.role.members.add(fw);
      addVec(fw.role.alloc, fw.alloc);
      this.refreshShare(fw.role);
    }
    if (fw.revocable !== spec.revocable) this.revocableFrameworks += spec.revocable ? 1 : -1;
    fw.revocable = spec.revocable;
    this.place(fw);
    this.epoch++;
  }

  activateFramework(id: string): void {
    const fw = this.mustFramework(id);
    fw.active = true;
    this.place(fw);
    this.epoch++;
  }

  deactivateFramework(id: string): void {
    const fw = this.mustFramework(id);
    fw.active = false;
    this.unplace(fw);
  }

  /** Stop offering to a framework until it revives. */
  suppress(id: string): void {
    const fw = this.mustFramework(id);
    fw.suppressed = true;
    this.unplace(fw);
  }

  /** Clear a framework's filters and suppression. */
  revive(id: string): void {
    const fw = this.mustFramework(id);
    fw.suppressed = false;
    this.dropFilters(fw);
    this.place(fw);
    this.epoch++;
  }

  // -------------------------------------------------------------------------------------------
  // Agents

  /**
   * Add an agent with its total resources and what frameworks already use on it (an agent
   * re-registering with running tasks).
   */
  addAgent(id: string, total: Resources, used: ReadonlyMap<string, Resources> = new Map()): void {
    if (this.agents.has(id)) throw new AllocatorError('EXISTS', `agent ${id} is already known`);
    const agent = new AgentState(id, total);
    this.agents.set(id, agent);
    agent.listIndex = this.agentList.length;
    this.agentList.push(agent);
    agent.totalVec = this.vecOf(total);
    addVec(this.totalVec, agent.totalVec);
    for (const [fwId, res] of used) {
      if (res.isEmpty()) continue;
      agent.alloc.set(fwId, res);
      const vec = this.vecOf(res);
      const fw = this.frameworks.get(fwId);
      if (fw) {
        addVec(fw.alloc, vec);
        addVec(fw.role.alloc, vec);
      } else {
        const o = this.orphanVec.get(fwId) ?? newVec();
        addVec(o, vec);
        this.orphanVec.set(fwId, o);
      }
    }
    this.refreshFree(agent);
    this.sharesStale = true;
    this.dirty.add(agent);
  }

  removeAgent(id: string): void {
    const agent = this.agents.get(id);
    if (!agent) return;
    for (const [fwId, res] of agent.alloc.entries()) {
      const fw = this.frameworks.get(fwId);
      const vec = this.vecOf(res);
      if (fw) {
        subVec(fw.alloc, vec);
        subVec(fw.role.alloc, vec);
      } else {
        const o = this.orphanVec.get(fwId);
        if (o) subVec(o, vec);
      }
    }
    if (agent.filters) for (const fw of agent.filters.keys()) fw.unfilterOn(agent);
    subVec(this.totalVec, agent.totalVec);
    this.agents.delete(id);
    // Keep the insertion order that full runs walk (O(agents), like removeFramework).
    this.agentList.splice(agent.listIndex, 1);
    for (let i = agent.listIndex; i < this.agentList.length; i++) this.agentList[i]!.listIndex = i;
    this.dirty.delete(agent);
    this.sharesStale = true;
  }

  /** Replace an agent's total (operator reservations, a new revocable estimate). */
  updateAgent(id: string, total: Resources): void {
    const agent = this.mustAgent(id);
    subVec(this.totalVec, agent.totalVec);
    agent.total = total;
    agent.totalVec = this.vecOf(total);
    addVec(this.totalVec, agent.totalVec);
    this.touchAgent(agent);
    this.sharesStale = true;
  }

  activateAgent(id: string): void {
    const agent = this.mustAgent(id);
    agent.active = true;
    this.touchAgent(agent);
  }

  /** A disconnected agent keeps its allocations but is not offered. */
  deactivateAgent(id: string): void {
    this.mustAgent(id).active = false;
  }

  // -------------------------------------------------------------------------------------------
  // Allocations

  /**
   * Give back resources a framework held on an agent (offer declined or rescinded, task ended).
   * With `refuseMs` > 0 the framework is not offered these resources on this agent again until
   * `now + refuseMs`, unless it revives.
   */
  recoverResources(frameworkId: string, agentId: string, resources: Resources, now: number, refuseMs = 0): void {
    const agent = this.agents.get(agentId);
    if (!agent || resources.isEmpty()) return;
    const held = agent.alloc.get(frameworkId);
    if (!held || !held.contains(resources)) {
      throw new AllocatorError(
        'NOT_ALLOCATED',
        `framework ${frameworkId} does not hold ${resources.toString()} on agent ${agentId} (holds ${held?.toString() ?? 'nothing'})`,
      );
    }
    const fw = this.frameworks.get(frameworkId);
    if (fw) {
      this.release(fw, agent, resources);
      if (refuseMs > 0 && Number.isFinite(now)) {
        const ms = Math.min(refuseMs, this.maxFilterMs);
        const filters = (agent.filters ??= new Map());
        const list = filters.get(fw) ?? [];
        list.push({ refused: resources, expiresAt: now + ms });
        if (now + ms < agent.filtersCheckAt) agent.filtersCheckAt = now + ms;
        filters.set(fw, list);
        fw.filterOn(agent);
      }
    } else {
      this.setAlloc(agent, frameworkId, held.minus(resources));
      const o = this.orphanVec.get(frameworkId);
      if (o) subVec(o, this.vecOf(resources));
      this.touchAgent(agent);
    }
  }

  /**
   * Apply an offer operation (RESERVE, UNRESERVE, CREATE, DESTROY) to resources a framework
   * holds: `from` in its allocation and in the agent's total become `to`.
   */
  updateAllocation(frameworkId: string, agentId: string, from: Resources, to: Resources): void {
    const agent = this.mustAgent(agentId);
    const held = agent.alloc.get(frameworkId);
    if (!held || !held.contains(from)) {
      throw new AllocatorError('NOT_ALLOCATED', `framework ${frameworkId} does not hold ${from.toString()} on agent ${agentId}`);
    }
    if (!agent.total.contains(from)) {
      throw new AllocatorError('NOT_IN_TOTAL', `agent ${agentId} does not have ${from.toString()}`);
    }
    const fw = this.frameworks.get(frameworkId);
    const dv = this.vecOf(to);
    subVec(dv, this.vecOf(from));
    if (fw) {
      addVec(fw.alloc, dv);
      addVec(fw.role.alloc, dv);
      this.refreshShare(fw);
      this.refreshShare(fw.role);
    }
    this.setAlloc(agent, frameworkId, held.minus(from).plus(to));
    this.updateAgent(agentId, agent.total.minus(from).plus(to));
  }

  setWeight(role: string, weight: number): void {
    if (!(weight > 0) || !Number.isFinite(weight)) {
      throw new AllocatorError('INVALID', `weight of role '${role}' must be a positive number (got ${weight})`);
    }
    this.weights.set(role, weight);
    const r = this.roles.get(role);
    if (r) {
      r.weight = weight;
      this.refreshShare(r);
    }
  }

  /**
   * Run an allocation over every agent, or only over agents whose resources changed since the
   * last run (`scope: 'changed'`). Returns what to offer.
   */
  allocate(now: number, scope: 'all' | 'changed' = 'all'): Allocation[] {
    this.runs++;
    if (this.sharesStale) this.recomputeShares();
    const out: Allocation[] = [];
    if (this.roleHeap.size === 0) return out;
    const agents = scope === 'all' ? this.agentList : Array.from(this.dirty);
    for (let i = 0; i < agents.length; i++) {
      const agent = agents[i]!;
      if (agent.active) this.allocateAgent(agent, now, out);
    }
    this.dirty.clear();
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Queries

  allocation(frameworkId: string, agentId: string): Resources {
    return this.agents.get(agentId)?.alloc.get(frameworkId) ?? Resources.EMPTY;
  }

  /** What is not allocated on an agent. */
  free(agentId: string): Resources {
    const agent = this.mustAgent(agentId);
    let free = agent.total;
    for (const r of agent.alloc.values()) free = free.minus(r);
    return free;
  }

  /** A framework's dominant share among its role's frameworks (0..1). */
  frameworkShare(id: string): number {
    if (this.sharesStale) this.recomputeShares();
    return this.mustFramework(id).share;
  }

  /** A role's dominant share divided by its weight. */
  roleShare(role: string): number {
    if (this.sharesStale) this.recomputeShares();
    return this.roles.get(role)?.share ?? 0;
  }

  hasFilter(frameworkId: string, agentId: string, now: number): boolean {
    const fw = this.frameworks.get(frameworkId);
    const agent = this.agents.get(agentId);
    return !!fw && !!agent && (agent.filters?.get(fw) ?? []).some((f) => f.expiresAt > now);
  }

  stats(): AllocatorStats {
    let filters = 0;
    for (const a of this.agents.values()) if (a.filters) for (const l of a.filters.values()) filters += l.length;
    return { agents: this.agents.size, frameworks: this.frameworks.size, roles: this.roles.size, filters, allocationRuns: this.runs };
  }

  private mustFramework(id: string): FrameworkClient {
    const fw = this.frameworks.get(id);
    if (!fw) throw new AllocatorError('UNKNOWN_FRAMEWORK', `framework ${id} is not known to the allocator`);
    return fw;
  }

  private mustAgent(id: string): AgentState {
    const agent = this.agents.get(id);
    if (!agent) throw new AllocatorError('UNKNOWN_AGENT', `agent ${id} is not known to the allocator`);
    return agent;
  }
}
