/**
 * The allocator's state and its shares: the role/framework tree with each client's dominant
 * share kept in its heap, the scalar vectors shares are computed from, and what is allocatable.
 * The walk (AllocationWalk) and the public facade (HierarchicalAllocator) build on it.
 */
import { Resources, toMilli } from '../../common/resources/index.ts';
import { type AgentState, type FrameworkClient, type FreeSplit, RoleClient } from './records.ts';
import { IndexedHeap } from './heap.ts';
import { NameOrder } from './name_order.ts';
import type { AllocatorOptions, MinAllocatable } from './types.ts';
import { addAt, newVec, type Vec } from './vec.ts';

const DEFAULT_MIN_ALLOCATABLE: MinAllocatable = { cpus: 0.01, mem: 32 };

export abstract class AllocatorShares {
  protected readonly agents = new Map<string, AgentState>();
  /** The same agents as an array: allocation runs iterate it. */
  protected readonly agentList: AgentState[] = [];
  protected readonly frameworks = new Map<string, FrameworkClient>();
  protected readonly roles = new Map<string, RoleClient>();
  protected readonly roleHeap = new IndexedHeap<RoleClient>();
  /** Ties of share go by name: the names' ranks, which the heaps keep copies of. */
  private readonly roleOrder = new NameOrder<RoleClient>(() => this.roleHeap.refreshRanks());
  protected readonly frameworkOrder = new NameOrder<FrameworkClient>(() => {
    for (const role of this.roles.values()) role.frameworks.refreshRanks();
  });
  private readonly dims = new Map<string, number>();
  /** Splits of agents' totals (see refreshFree), by total. */
  protected readonly splits = new WeakMap<Resources, FreeSplit>();
  /** Bumped when a role is added to or dropped from `roles` (reservations cache their role's client). */
  protected rolesGen = 0;
  /** Interned role names (see internRole). */
  private readonly roleNames = new Map<string, string>();
  protected readonly totalVec: Vec = newVec();
  protected readonly weights = new Map<string, number>();
  private readonly minAllocatable: [string, number][];
  /** Allocations of frameworks not (yet) added, e.g. after a master failover. */
  protected readonly orphanVec = new Map<string, Vec>();
  protected readonly dirty = new Set<AgentState>();
  /** Bumped when a framework may have become eligible for more offers. */
  protected epoch = 0;
  protected sharesStale = false;
  protected revocableFrameworks = 0;

  constructor(options: AllocatorOptions) {
    this.minAllocatable = Object.entries(options.minAllocatable ?? DEFAULT_MIN_ALLOCATABLE);
  }

  // -------------------------------------------------------------------------------------------
  // Shares and heaps

  /** One string object per role name: the walk's comparisons of role names are then cheap. */
  protected internRole(name: string): string {
    const known = this.roleNames.get(name);
    if (known !== undefined) return known;
    this.roleNames.set(name, name);
    return name;
  }

  protected role(name: string): RoleClient {
    let role = this.roles.get(name);
    if (!role) {
      role = new RoleClient(this.internRole(name), this.weights.get(name) ?? 1);
      this.roles.set(name, role);
      this.roleOrder.add(role);
      this.rolesGen++;
    }
    return role;
  }

  protected maybeDropRole(role: RoleClient): void {
    if (role.members.size === 0) {
      this.roleHeap.remove(role);
      this.roles.delete(role.name);
      this.roleOrder.remove(role);
      this.rolesGen++;
    }
  }

  /** Put a framework in its role's heap if it can receive offers. */
  protected place(fw: FrameworkClient): void {
    const eligible = fw.active && !fw.suppressed;
    const heap = fw.role.frameworks;
    if (eligible && !heap.has(fw)) {
      this.refreshShareValue(fw);
      heap.push(fw);
      if (!this.roleHeap.has(fw.role)) {
        this.refreshShareValue(fw.role);
        this.roleHeap.push(fw.role);
      }
    } else if (!eligible) {
      this.unplace(fw);
    }
  }

  protected unplace(fw: FrameworkClient): void {
    const heap = fw.role.frameworks;
    heap.remove(fw);
    if (heap.size === 0) this.roleHeap.remove(fw.role);
  }

  protected dominantShare(alloc: Vec): number {
    let share = 0;
    const total = this.totalVec;
    for (let d = 0; d < alloc.length; d++) {
      const t = total[d] ?? 0;
      const a = alloc[d] ?? 0;
      if (t > 0 && a > 0) {
        const s = a / t;
        if (s > share) share = s;
      }
    }
    return share;
  }

  private refreshShareValue(c: FrameworkClient | RoleClient): void {
    c.share = c instanceof RoleClient ? this.dominantShare(c.alloc) / c.weight : this.dominantShare(c.alloc);
  }

  protected refreshShare(c: FrameworkClient | RoleClient): void {
    if (c instanceof RoleClient) this.refreshRoleShare(c);
    else this.refreshFrameworkShare(c);
  }

  private refreshFrameworkShare(fw: FrameworkClient): void {
    if (this.sharesStale) return; // recomputed wholesale before the next use
    fw.share = this.dominantShare(fw.alloc);
    fw.role.frameworks.update(fw);
  }

  private refreshRoleShare(role: RoleClient): void {
    if (this.sharesStale) return;
    role.share = this.dominantShare(role.alloc) / role.weight;
    this.roleHeap.update(role);
  }

  protected recomputeShares(): void {
    this.sharesStale = false;
    for (const role of this.roles.values()) {
      for (const fw of role.members) this.refreshShareValue(fw);
      role.frameworks.rebuild();
      this.refreshShareValue(role);
    }
    this.roleHeap.rebuild();
  }

  /**
   * Add the scalars of `res` (in thousandths) to two vectors. Revocable ones count under their
   * name, as in Mesos's DRF sorter (its totals and allocations are scalar quantities by name).
   */
  protected accumulate(res: Resources, a: Vec, b: Vec): void {
    for (const r of res) {
      if (r.type !== 'SCALAR') continue;
      const d = this.dim(r.name);
      const m = toMilli(r.scalar ?? 0);
      addAt(a, d, m);
      addAt(b, d, m);
    }
  }

  /** Scalar amounts of `res` per dimension (revocable ones under their name), in thousandths. */
  protected vecOf(res: Resources): Vec {
    const v = newVec(this.dims.size);
    for (const r of res) {
      if (r.type !== 'SCALAR') continue;
      addAt(v, this.dim(r.name), toMilli(r.scalar ?? 0));
    }
    return v;
  }

  /** The dimension of a scalar resource's name (a new one for a name not seen before). */
  private dim(name: string): number {
    let d = this.dims.get(name);
    if (d === undefined) {
      d = this.dims.size;
      this.dims.set(name, d);
    }
    return d;
  }

  /** Not empty, and at least the minimum of one resource (Mesos's MIN_CPUS / MIN_MEM). */
  protected allocatable(res: Resources): boolean {
    if (res.isEmpty()) return false;
    if (this.minAllocatable.length === 0) return true;
    for (const [name, min] of this.minAllocatable) if (res.scalar(name) >= min) return true;
    return false;
  }
}
