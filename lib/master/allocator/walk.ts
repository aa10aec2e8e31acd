/**
 * The allocation walk over one agent: roles in ascending weighted dominant share, within a role
 * its frameworks in ascending dominant share, each offered what it may have of the agent (see
 * HierarchicalAllocator), and the bookkeeping of what it grants, releases and filters.
 */
import { type Resource, Resources, UNRESERVED } from '../../common/resources/index.ts';
import {
  type AgentState,
  COVERED,
  type FrameworkClient,
  type FreeSplit,
  NO_RESERVATIONS,
  type Reservation,
  type RoleClient,
  freeReservation,
  hasReservationFor,
  isTaken,
  markTaken,
} from './records.ts';
import { heapLess } from './heap.ts';
import { AllocatorShares } from './shares.ts';
import type { Allocation } from './types.ts';
import { NO_VEC, addVec, subVec, type Vec } from './vec.ts';

export abstract class AllocationWalk extends AllocatorShares {
  // -------------------------------------------------------------------------------------------
  // The walk

  // State of the agent being walked; kept on the instance so the walk allocates no closures.
  private wAgent!: AgentState;
  private wNow = 0;
  private wOut: Allocation[] = [];
  private wUnreserved: Resources = Resources.EMPTY;
  private wRevocable: Resources = Resources.EMPTY;
  /** wUnreserved / wRevocable are not empty. */
  private wHasUnreserved = false;
  private wHasRevocable = false;
  private wRole: RoleClient | undefined;
  private wStamp = 0;
  private readonly wPending: RoleClient[] = [];
  private readonly wTouchedFws: FrameworkClient[] = [];
  private readonly wTouchedRoles: RoleClient[] = [];
  private wTouchedFwCount = 0;
  private wTouchedRoleCount = 0;

  protected allocateAgent(agent: AgentState, now: number, out: Allocation[]): void {
    if (agent.memoVersion === agent.version && agent.memoEpoch === this.epoch && now < agent.memoUntil) return;
    if (agent.stale) this.refreshFree(agent);
    if (now >= agent.filtersCheckAt) this.expireFilters(agent, now);
    const revocableOn = this.revocableFrameworks > 0;
    this.wAgent = agent;
    this.wNow = now;
    this.wOut = out;
    this.wUnreserved = agent.freeUnreserved;
    this.wHasUnreserved = agent.hasFreeUnreserved;
    this.wRevocable = revocableOn ? agent.freeRevocable : Resources.EMPTY;
    this.wHasRevocable = revocableOn && !this.wRevocable.isEmpty();
    if (!this.wHasUnreserved && !this.wHasRevocable && agent.reservedLeft === 0) return;
    const before = out.length;

    // Unreserved and revocable resources: roles in share order, frameworks in share order.
    const stamp = ++this.wStamp;
    if (this.wHasUnreserved || this.wHasRevocable) this.roleHeap.walk(this, AllocationWalk.visitRole);
    // Reservations of roles that walk did not reach.
    if (agent.reservedLeft > 0) {
      // Counted apart from the array's length, which is never reset (that would free and
      // reallocate its storage for every agent); what is left past the count is never read.
      const pending = this.wPending;
      let n = 0;
      let last = -1;
      for (let i = 0; i < agent.reservedCount; i++) {
        if (isTaken(agent, i)) continue;
        const res = agent.reserved[i]!;
        if (res.clientGen !== this.rolesGen) {
          res.client = this.roles.get(res.role);
          res.clientGen = this.rolesGen;
        }
        const role = res.client;
        if (role && role.frameworks.size > 0 && role.visitStamp !== stamp) {
          pending[n++] = role;
          last = i;
        }
      }
      if (n === 1) {
        const role = pending[0]!;
        if (!this.offerReservation(role, last)) {
          this.wRole = role;
          role.frameworks.walk(this, AllocationWalk.visitReservedOnly);
        }
      } else if (n > 1) {
        for (const role of pending.slice(0, n).sort((a, b) => (heapLess(a, b) ? -1 : heapLess(b, a) ? 1 : 0))) {
          this.wRole = role;
          role.frameworks.walk(this, AllocationWalk.visitReservedOnly);
        }
      }
    }

    if (agent.freeUnreserved !== this.wUnreserved) {
      // Offered: what is left is nothing (its precomputed facts must say so too).
      agent.freeUnreserved = this.wUnreserved;
      agent.freeUnreservedVec = NO_VEC;
      agent.freeUnreservedOk = false;
      agent.hasFreeUnreserved = false;
    }
    if (revocableOn) agent.freeRevocable = this.wRevocable;
    // A walk only adds allocations: the shares it changed only grew, so they only move down
    // in their heaps. (sharesStale is false here: allocate() recomputed them.)
    const fws = this.wTouchedFws;
    for (let i = 0; i < this.wTouchedFwCount; i++) {
      const fw = fws[i]!;
      fw.touched = false;
      fw.share = this.dominantShare(fw.alloc);
      fw.role.frameworks.increased(fw);
    }
    this.wTouchedFwCount = 0;
    const roles = this.wTouchedRoles;
    for (let i = 0; i < this.wTouchedRoleCount; i++) {
      const role = roles[i]!;
      role.touched = false;
      role.share = this.dominantShare(role.alloc) / role.weight;
      this.roleHeap.increased(role);
    }
    this.wTouchedRoleCount = 0;
    if (out.length === before) {
      // Nothing could be offered: skip this agent until its resources, the eligible
      // frameworks or the earliest filter expiry change.
      agent.memoVersion = agent.version;
      agent.memoEpoch = this.epoch;
      let until = Infinity;
      if (agent.filters) for (const list of agent.filters.values()) for (const f of list) if (f.expiresAt < until) until = f.expiresAt;
      agent.memoUntil = until;
    }
  }

  // The walk's visitors: static, so every allocator shares one function each. Closures made
  // per allocator (arrow functions in fields) were compiled again for every new allocator and
  // ran unoptimized for most of its first cycle (the one the benchmark times).
  private static visitRole(a: AllocationWalk, role: RoleClient): boolean {
    role.visitStamp = a.wStamp;
    a.wRole = role;
    role.frameworks.walk(a, AllocationWalk.visitFramework);
    return !a.wHasUnreserved && !a.wHasRevocable;
  }

  private static visitFramework(a: AllocationWalk, fw: FrameworkClient): boolean {
    a.offer(fw);
    return !a.wHasUnreserved && !a.wHasRevocable && !a.hasReservation(fw.role.name);
  }

  private static visitReservedOnly(a: AllocationWalk, fw: FrameworkClient): boolean {
    a.offer(fw);
    return !a.hasReservation(a.wRole!.name);
  }

  /**
   * The usual case of the reservations pass, without a walk: nothing unreserved or revocable is
   * left and the role's first framework takes its reservation whole. False, having done
   * nothing, when that does not apply (something else left, the framework filtered here, the
   * reservation not allocatable): the walk decides then.
   */
  private offerReservation(role: RoleClient, i: number): boolean {
    const agent = this.wAgent;
    const pre = agent.reserved[i]!;
    const fw = role.frameworks.peek()!;
    if (this.wHasUnreserved || this.wHasRevocable || !pre.aloneOk) return false;
    if (fw.filterHere(agent) !== 0) return false;
    this.wOut.push({ frameworkId: fw.name, agentId: agent.id, resources: pre.alone, revocable: false });
    this.grant(fw, agent, pre.alone, pre.aloneVec);
    markTaken(agent, i);
    this.touch(fw);
    return true;
  }

  /** Does the walked agent still have a free reservation for `role`? */
  private hasReservation(role: string): boolean {
    return this.wAgent.reservedLeft > 0 && freeReservation(this.wAgent, role) >= 0;
  }

  /** Offer a framework what it may have of the walked agent; false when nothing was given. */
  private offer(fw: FrameworkClient): boolean {
    const agent = this.wAgent;
    // Covered: a filter of its refuses all it could get here, whatever is computed below (after
    // declines, most of the frameworks a walk passes; the bit test is all they cost).
    const filter = fw.filterHere(agent);
    if (filter === COVERED) return false;
    const role = fw.role.name;
    const index = agent.reservedLeft === 0 ? -1 : freeReservation(agent, role);
    const pre = index < 0 ? undefined : agent.reserved[index]!;
    // Scalars and allocatability of the candidate, precomputed for the usual cases.
    let main: Resources;
    let vec: Vec | undefined;
    let ok: boolean;
    if (pre === undefined) {
      main = this.wUnreserved;
      const plain = main === agent.freeUnreserved;
      vec = plain ? agent.freeUnreservedVec : undefined;
      ok = plain ? agent.freeUnreservedOk : this.allocatable(main);
    } else if (this.wUnreserved === pre.base) {
      main = pre.withUnreserved;
      vec = pre.withUnreservedVec;
      ok = pre.withUnreservedOk;
    } else if (!this.wHasUnreserved) {
      main = pre.alone;
      vec = pre.aloneVec;
      ok = pre.aloneOk;
    } else {
      main = this.wUnreserved.plus(pre.alone);
      vec = undefined;
      ok = this.allocatable(main);
    }
    // `ok`: main is allocatable, so not empty (no need to look into it again).
    let rev = fw.revocable ? this.wRevocable : Resources.EMPTY;
    // Revocable resources reserved for a role go to that role only.
    if (agent.revocableReserved && !rev.isEmpty()) rev = rev.filter((r) => r.role === UNRESERVED || r.role === role);
    let revOk = rev !== Resources.EMPTY && this.allocatable(rev);
    if (!ok && !revOk) return false;
    if (filter !== 0) {
      if (ok && this.isFiltered(agent, fw, main, this.wNow)) {
        ok = false;
        // Refused the most it can have here, and nothing revocable is free: later walks skip it
        // here by a bit of the agent's, until its free resources or these filters change.
        if (!agent.freeHasRevocable && (pre === undefined ? main === agent.freeUnreserved && !hasReservationFor(agent, role) : main === pre.withUnreserved)) {
          fw.coverOn(agent);
        }
      }
      if (revOk && this.isFiltered(agent, fw, rev, this.wNow)) revOk = false;
      if (!ok && !revOk) return false;
    }
    if (ok) {
      this.wOut.push({ frameworkId: fw.name, agentId: agent.id, resources: main, revocable: false });
      this.grant(fw, agent, main, vec);
      this.wUnreserved = Resources.EMPTY;
      this.wHasUnreserved = false;
      if (pre !== undefined) markTaken(agent, index);
    }
    if (revOk) {
      this.wOut.push({ frameworkId: fw.name, agentId: agent.id, resources: rev, revocable: true });
      this.grant(fw, agent, rev);
      this.wRevocable = rev === this.wRevocable ? Resources.EMPTY : this.wRevocable.minus(rev);
      this.wHasRevocable = !this.wRevocable.isEmpty();
    }
    this.touch(fw);
    return true;
  }

  /** The framework (and its role) got something in this walk: their shares follow at its end. */
  private touch(fw: FrameworkClient): void {
    if (fw.touched) return;
    fw.touched = true;
    this.wTouchedFws[this.wTouchedFwCount++] = fw;
    if (!fw.role.touched) {
      fw.role.touched = true;
      this.wTouchedRoles[this.wTouchedRoleCount++] = fw.role;
    }
  }

  private isFiltered(agent: AgentState, fw: FrameworkClient, candidate: Resources, now: number): boolean {
    const list = agent.filters?.get(fw);
    if (!list) return false;
    let filtered = false;
    let expired = false;
    for (let i = list.length - 1; i >= 0; i--) {
      const f = list[i]!;
      if (f.expiresAt <= now) {
        list.splice(i, 1);
        expired = true;
      } else if (!filtered && f.refused.contains(candidate)) {
        filtered = true;
      }
    }
    if (list.length === 0) {
      agent.filters!.delete(fw);
      fw.unfilterOn(agent);
    } else if (expired) {
      fw.uncoverOn(agent);
    }
    return filtered;
  }

  /** Drop the agent's expired filters; note when the next one expires. */
  private expireFilters(agent: AgentState, now: number): void {
    let next = Infinity;
    const filters = agent.filters;
    if (filters !== undefined) {
      for (const [fw, list] of filters) {
        let kept = 0;
        for (const f of list) {
          if (f.expiresAt > now) {
            list[kept++] = f;
            if (f.expiresAt < next) next = f.expiresAt;
          }
        }
        if (kept === list.length) continue;
        list.length = kept;
        if (kept === 0) {
          filters.delete(fw);
          fw.unfilterOn(agent);
        } else {
          fw.uncoverOn(agent);
        }
      }
    }
    agent.filtersCheckAt = next;
  }

  /** Record an allocation made by the walk (free pieces are updated by the caller). */
  private grant(fw: FrameworkClient, agent: AgentState, res: Resources, vec?: Vec): void {
    agent.alloc.add(fw.name, fw, res);
    if (vec === undefined) {
      this.accumulate(res, fw.alloc, fw.role.alloc);
    } else {
      addVec(fw.alloc, vec);
      addVec(fw.role.alloc, vec);
    }
  }

  /** Return resources a known framework held; its share and heap position follow. */
  protected release(fw: FrameworkClient, agent: AgentState, res: Resources): void {
    const held = agent.alloc.get(fw.name) ?? Resources.EMPTY;
    this.setAlloc(agent, fw.name, held.minus(res));
    const vec = this.vecOf(res);
    subVec(fw.alloc, vec);
    subVec(fw.role.alloc, vec);
    this.refreshShare(fw);
    this.refreshShare(fw.role);
    this.touchAgent(agent);
  }

  protected setAlloc(agent: AgentState, fwId: string, res: Resources): void {
    if (res.isEmpty()) agent.alloc.delete(fwId);
    else agent.alloc.set(fwId, res);
  }

  /** The agent's free resources may have grown: recompute them before its next walk. */
  protected touchAgent(agent: AgentState): void {
    agent.stale = true;
    agent.version++;
    this.dirty.add(agent);
  }

  protected refreshFree(agent: AgentState): void {
    let free = agent.total;
    for (const r of agent.alloc.values()) free = free.minus(r);
    if (free !== agent.free) {
      agent.free = free;
      // Cover bits (see FrameworkClient.filterHere) were about the old free resources.
      const bits = agent.filterBits;
      if (bits !== undefined) for (let w = 1; w < bits.length; w += 2) bits[w] = 0;
    }
    // Nothing held: the split of the total, made once per total object and shared by the
    // agents that have it (read only), as unreserved agents share their total.
    let split: FreeSplit | undefined;
    if (free === agent.total) {
      split = this.splits.get(free);
      if (split === undefined) {
        split = this.split(free);
        this.splits.set(free, split);
      }
    } else {
      split = this.split(free);
    }
    agent.freeUnreserved = split.unreserved;
    agent.freeUnreservedVec = split.unreservedVec;
    agent.freeUnreservedOk = split.unreservedOk;
    agent.hasFreeUnreserved = !split.unreserved.isEmpty();
    agent.freeRevocable = split.revocable;
    agent.freeHasRevocable = !split.revocable.isEmpty();
    agent.revocableReserved = split.revocableReserved;
    agent.reserved = split.reserved;
    agent.reservedLeft = agent.reservedCount = split.reserved.length;
    agent.reservedRole = split.reserved[0]?.role;
    agent.takenBits = 0;
    agent.takenMore = undefined;
    agent.stale = false;
  }

  /** Free resources split the way a walk consumes them, with the facts it needs precomputed. */
  private split(free: Resources): FreeSplit {
    const unreservedList: Resource[] = [];
    const revocableList: Resource[] = [];
    const reservedLists = new Map<string, Resource[]>();
    let revocableReserved = false;
    for (const r of free) {
      if (r.revocable) {
        revocableList.push(r);
        if (r.role !== UNRESERVED) revocableReserved = true;
      } else if (r.role === UNRESERVED) {
        unreservedList.push(r);
      } else {
        const list = reservedLists.get(r.role);
        if (list) list.push(r);
        else reservedLists.set(r.role, [r]);
      }
    }
    const unreserved = unreservedList.length === free.size ? free : Resources.of(unreservedList);
    const reserved: Reservation[] = [];
    for (const [name, list] of reservedLists) {
      const alone = Resources.of(list);
      const withUnreserved = unreserved.plus(alone);
      reserved.push({
        role: this.internRole(name),
        client: undefined,
        clientGen: -1,
        alone,
        aloneVec: this.vecOf(alone),
        aloneOk: this.allocatable(alone),
        base: unreserved,
        withUnreserved,
        withUnreservedVec: this.vecOf(withUnreserved),
        withUnreservedOk: this.allocatable(withUnreserved),
      });
    }
    return {
      unreserved,
      unreservedVec: this.vecOf(unreserved),
      unreservedOk: this.allocatable(unreserved),
      revocable: Resources.of(revocableList),
      revocableReserved,
      reserved: reserved.length === 0 ? NO_RESERVATIONS : reserved,
    };
  }

  protected dropFilters(fw: FrameworkClient): void {
    for (const agent of fw.takeFiltered()) agent.filters?.delete(fw);
  }
}
