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
 * Shares count non-revocable scalar resources against the cluster's non-revocable total.
 * Keys are sorted once per agent: share changes made during an agent's walk are applied to the
 * heaps when the walk ends.
 */
import { CorralError } from '../../common/errors.ts';
import { type Resource, Resources, UNRESERVED, toMilli } from '../../common/resources/index.ts';
import { IndexedHeap, type HeapItem, heapLess } from './heap.ts';
import { NameOrder } from './name_order.ts';
import type { Allocation, AllocatorOptions, AllocatorStats, FrameworkSpec, MinAllocatable } from './types.ts';

const DEFAULT_MIN_ALLOCATABLE: MinAllocatable = { cpus: 0.01, mem: 32 };
const DEFAULT_MAX_FILTER_MS = 365 * 24 * 3600 * 1000;

interface Filter {
  readonly refused: Resources;
  readonly expiresAt: number;
}

/**
 * Scalar amounts per dimension, in thousandths (exact arithmetic). Every vector is an array of
 * doubles without holes: made by newVec and grown only at its end, so addVec and dominantShare
 * see one kind of array (V8 keeps arrays of small integers, and arrays with holes, as other
 * kinds; vectors used to be of several).
 */
type Vec = number[];

/** A vector of `length` zeros, stored as doubles (see Vec). */
function newVec(length = 0): Vec {
  const v = [0.5];
  v.pop();
  for (let d = 0; d < length; d++) v.push(0);
  return v;
}

/** The vector of nothing; like every vector kept for the walk, only ever read. */
const NO_VEC: Vec = newVec();
const NO_RESERVATIONS: readonly Reservation[] = [];

/**
 * One role's reservation among an agent's free resources, with what the walk needs
 * precomputed. Part of a FreeSplit: shared by the agents with the same total, never written
 * to but for the cache of the role's client; which ones an agent has offered it keeps in bits
 * of its own (see markTaken).
 */
interface Reservation {
  readonly role: string;
  /** The role's client as `roles` had it when `clientGen` was the allocator's rolesGen. */
  client: RoleClient | undefined;
  clientGen: number;
  readonly alone: Resources;
  readonly aloneVec: Vec;
  readonly aloneOk: boolean;
  /** The freeUnreserved object `withUnreserved` was built from. */
  readonly base: Resources;
  readonly withUnreserved: Resources;
  readonly withUnreservedVec: Vec;
  readonly withUnreservedOk: boolean;
}

/** What refreshFree derives from an agent's free resources (shared, read only but for Reservation's cache). */
interface FreeSplit {
  readonly unreserved: Resources;
  readonly unreservedVec: Vec;
  readonly unreservedOk: boolean;
  readonly revocable: Resources;
  readonly revocableReserved: boolean;
  readonly reserved: readonly Reservation[];
}

class RoleClient implements HeapItem {
  heapIndex = -1;
  /** Position of the name among the roles' names (see NameOrder). */
  rank = -1;
  /** The walk stamp of the last agent whose walk reached this role. */
  visitStamp = 0;
  share = 0;
  readonly alloc: Vec = newVec();
  readonly members = new Set<FrameworkClient>();
  readonly frameworks = new IndexedHeap<FrameworkClient>();
  touched = false;
  constructor(
    readonly name: string,
    public weight: number,
  ) {}
}

class FrameworkClient implements HeapItem {
  heapIndex = -1;
  /** Position of the id among the frameworks' ids (see NameOrder). */
  rank = -1;
  share = 0;
  readonly alloc: Vec = newVec();
  active = true;
  suppressed = false;
  touched = false;
  /** Agents holding a filter of this framework. */
  private readonly filteredOn = new Set<AgentState>();
  /**
   * filteredOn is not empty. The walk reads this (the framework object is loaded anyway) and
   * looks into the set only when it is true: two memory loads less per offer.
   */
  private anyFilter = false;
  constructor(
    readonly name: string,
    public role: RoleClient,
    public revocable: boolean,
  ) {}

  /** Whether this framework has a filter on `agent`. */
  filteredHere(agent: AgentState): boolean {
    return this.anyFilter && this.filteredOn.has(agent);
  }

  filterOn(agent: AgentState): void {
    this.filteredOn.add(agent);
    this.anyFilter = true;
  }

  unfilterOn(agent: AgentState): void {
    this.filteredOn.delete(agent);
    this.anyFilter = this.filteredOn.size > 0;
  }

  /** The agents with a filter of this framework; forgets them. */
  takeFiltered(): AgentState[] {
    const agents = [...this.filteredOn];
    this.filteredOn.clear();
    this.anyFilter = false;
    return agents;
  }
}

/**
 * What frameworks hold on one agent, by framework id. Most agents are held by one or two
 * frameworks (the unreserved resources and a role's reservation), so those cases live in
 * fields and a Map is made only for a third holder.
 */
class Holdings {
  private oneId: string | undefined;
  /** The client object of oneId's framework, when it was recorded through `add`. */
  private oneWho: object | undefined;
  private oneRes: Resources | undefined;
  private twoId: string | undefined;
  private twoWho: object | undefined;
  private twoRes: Resources | undefined;
  private many: Map<string, Resources> | undefined;

  get(id: string): Resources | undefined {
    if (this.many) return this.many.get(id);
    return this.oneId === id ? this.oneRes : this.twoId === id ? this.twoRes : undefined;
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  set(id: string, res: Resources): void {
    if (this.many) {
      this.many.set(id, res);
    } else if (this.oneId === id || (this.oneId === undefined && this.twoId !== id)) {
      if (this.oneId !== id) this.oneWho = undefined;
      this.oneId = id;
      this.oneRes = res;
    } else if (this.twoId === id || this.twoId === undefined) {
      if (this.twoId !== id) this.twoWho = undefined;
      this.twoId = id;
      this.twoRes = res;
    } else {
      this.many = new Map([
        [this.oneId!, this.oneRes!],
        [this.twoId, this.twoRes!],
        [id, res],
      ]);
      this.oneId = this.twoId = undefined;
      this.oneWho = this.twoWho = undefined;
      this.oneRes = this.twoRes = undefined;
    }
  }

  /**
   * Add `res` to what framework `id` holds; `who` is the framework's client object. A holder
   * recorded with its object is told apart by the object alone: comparing two different id
   * strings reads both (two cache misses per agent in a walk, where the second holder of an
   * agent, a reservation's, is added). Objects and ids go one to one: a framework removed
   * releases everything it held before another with its id can be added.
   */
  add(id: string, who: object, res: Resources): void {
    if (this.many) {
      const held = this.many.get(id);
      this.many.set(id, held === undefined ? res : held.plus(res));
    } else if (this.oneId !== undefined && (this.oneWho !== undefined ? this.oneWho === who : this.oneId === id)) {
      this.oneWho = who;
      this.oneRes = this.oneRes!.plus(res);
    } else if (this.twoId !== undefined && (this.twoWho !== undefined ? this.twoWho === who : this.twoId === id)) {
      this.twoWho = who;
      this.twoRes = this.twoRes!.plus(res);
    } else if (this.oneId === undefined) {
      this.oneId = id;
      this.oneWho = who;
      this.oneRes = res;
    } else if (this.twoId === undefined) {
      this.twoId = id;
      this.twoWho = who;
      this.twoRes = res;
    } else {
      this.set(id, res);
    }
  }

  delete(id: string): void {
    if (this.many) this.many.delete(id);
    else if (this.oneId === id) {
      this.oneId = undefined;
      this.oneWho = undefined;
      this.oneRes = undefined;
    } else if (this.twoId === id) {
      this.twoId = undefined;
      this.twoWho = undefined;
      this.twoRes = undefined;
    }
  }

  *entries(): IterableIterator<[string, Resources]> {
    if (this.many) yield* this.many;
    else {
      if (this.oneId !== undefined) yield [this.oneId, this.oneRes!];
      if (this.twoId !== undefined) yield [this.twoId, this.twoRes!];
    }
  }

  *values(): IterableIterator<Resources> {
    for (const [, r] of this.entries()) yield r;
  }
}

class AgentState extends Holdings {
  active = true;
  /** Position in the allocator's agent list. */
  listIndex = -1;
  /**
   * Allocations by framework id (the framework may not be known yet after a failover): the
   * agent itself, whose holdings are fields of its own (one object less to load per agent).
   */
  readonly alloc: Holdings = this;
  /** Filters by framework; made with the first (most agents never have one: a map less per agent). */
  filters: Map<FrameworkClient, Filter[]> | undefined = undefined;
  /** Free resources, split the way an allocation run consumes them. */
  freeUnreserved: Resources = Resources.EMPTY;
  freeRevocable: Resources = Resources.EMPTY;
  /** Some of freeRevocable is reserved for a role (rare): offers must pick per role. */
  revocableReserved = false;
  /**
   * Free reservations by role, computed with the free sets: the reservation alone and together
   * with freeUnreserved, each with its scalars and allocatability, so the walk does no
   * arithmetic. Those taken (offered) are no longer free; `reservedLeft` counts the others.
   * Nothing of them is an object of the agent's own: at 10k agents a cycle is bound by memory
   * loads, not arithmetic.
   */
  reserved: readonly Reservation[] = NO_RESERVATIONS;
  reservedLeft = 0;
  /** Taken reservations: bit i for the i-th (i < TAKEN_BITS), then takenMore. */
  takenBits = 0;
  takenMore: boolean[] | undefined = undefined;
  /**
   * How many reservations there are, and the role of the first: with one, the walk tells "not
   * for this role" from the agent alone (role names are interned: one string per name).
   */
  reservedCount = 0;
  reservedRole: string | undefined = undefined;
  /** freeUnreserved is not empty (read instead of it: one object less per agent in the walk). */
  hasFreeUnreserved = false;
  /** Scalars of freeUnreserved (thousandths) and whether it is allocatable on its own. */
  freeUnreservedVec: Vec = NO_VEC;
  freeUnreservedOk = false;
  stale = true;
  /** Bumped whenever the free resources may have grown. */
  version = 0;
  memoVersion = -1;
  memoEpoch = -1;
  memoUntil = 0;
  totalVec: Vec = NO_VEC;
  constructor(
    readonly id: string,
    public total: Resources,
  ) {
    super();
  }
}

export class AllocatorError extends CorralError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'AllocatorError';
  }
}

export class HierarchicalAllocator {
  private readonly agents = new Map<string, AgentState>();
  /** The same agents as an array: allocation runs iterate it. */
  private readonly agentList: AgentState[] = [];
  private readonly frameworks = new Map<string, FrameworkClient>();
  private readonly roles = new Map<string, RoleClient>();
  private readonly roleHeap = new IndexedHeap<RoleClient>();
  /** Ties of share go by name: the names' ranks, which the heaps keep copies of. */
  private readonly roleOrder = new NameOrder<RoleClient>(() => this.roleHeap.refreshRanks());
  private readonly frameworkOrder = new NameOrder<FrameworkClient>(() => {
    for (const role of this.roles.values()) role.frameworks.refreshRanks();
  });
  private readonly dims = new Map<string, number>();
  /** Splits of agents' totals (see refreshFree), by total. */
  private readonly splits = new WeakMap<Resources, FreeSplit>();
  /** Bumped when a role is added to or dropped from `roles` (reservations cache their role's client). */
  private rolesGen = 0;
  /** Interned role names (see internRole). */
  private readonly roleNames = new Map<string, string>();
  private readonly totalVec: Vec = newVec();
  private readonly weights = new Map<string, number>();
  private readonly minAllocatable: [string, number][];
  private readonly maxFilterMs: number;
  /** Allocations of frameworks not (yet) added, e.g. after a master failover. */
  private readonly orphanVec = new Map<string, Vec>();
  private readonly dirty = new Set<AgentState>();
  /** Bumped when a framework may have become eligible for more offers. */
  private epoch = 0;
  private sharesStale = false;
  private revocableFrameworks = 0;
  private runs = 0;

  constructor(options: AllocatorOptions = {}) {
    for (const [role, w] of options.weights ?? []) this.setWeight(role, w);
    this.minAllocatable = Object.entries(options.minAllocatable ?? DEFAULT_MIN_ALLOCATABLE);
    this.maxFilterMs = options.maxFilterMs ?? DEFAULT_MAX_FILTER_MS;
  }

  // -------------------------------------------------------------------------------------------
  // Frameworks

  addFramework(id: string, spec: FrameworkSpec, active = true): void {
    if (this.frameworks.has(id)) throw new AllocatorError('EXISTS', `framework ${id} is already known`);
    const fw = new FrameworkClient(id, this.role(spec.role), spec.revocable);
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
  }

  updateFramework(id: string, spec: FrameworkSpec): void {
    const fw = this.mustFramework(id);
    if (fw.role.name !== spec.role) {
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

  private allocateAgent(agent: AgentState, now: number, out: Allocation[]): void {
    if (agent.memoVersion === agent.version && agent.memoEpoch === this.epoch && now < agent.memoUntil) return;
    if (agent.stale) this.refreshFree(agent);
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
    if (this.wHasUnreserved || this.wHasRevocable) this.roleHeap.walk(this, HierarchicalAllocator.visitRole);
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
          role.frameworks.walk(this, HierarchicalAllocator.visitReservedOnly);
        }
      } else if (n > 1) {
        for (const role of pending.slice(0, n).sort((a, b) => (heapLess(a, b) ? -1 : heapLess(b, a) ? 1 : 0))) {
          this.wRole = role;
          role.frameworks.walk(this, HierarchicalAllocator.visitReservedOnly);
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
  private static visitRole(a: HierarchicalAllocator, role: RoleClient): boolean {
    role.visitStamp = a.wStamp;
    a.wRole = role;
    role.frameworks.walk(a, HierarchicalAllocator.visitFramework);
    return !a.wHasUnreserved && !a.wHasRevocable;
  }

  private static visitFramework(a: HierarchicalAllocator, fw: FrameworkClient): boolean {
    a.offer(fw);
    return !a.wHasUnreserved && !a.wHasRevocable && !a.hasReservation(fw.role.name);
  }

  private static visitReservedOnly(a: HierarchicalAllocator, fw: FrameworkClient): boolean {
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
    if (fw.filteredHere(agent)) return false;
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
    if (fw.filteredHere(agent)) {
      if (ok && this.isFiltered(agent, fw, main, this.wNow)) ok = false;
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
    for (let i = list.length - 1; i >= 0; i--) {
      const f = list[i]!;
      if (f.expiresAt <= now) {
        list.splice(i, 1);
      } else if (!filtered && f.refused.contains(candidate)) {
        filtered = true;
      }
    }
    if (list.length === 0) {
      agent.filters!.delete(fw);
      fw.unfilterOn(agent);
    }
    return filtered;
  }

  /** Not empty, and at least the minimum of one resource (Mesos's MIN_CPUS / MIN_MEM). */
  private allocatable(res: Resources): boolean {
    if (res.isEmpty()) return false;
    if (this.minAllocatable.length === 0) return true;
    for (const [name, min] of this.minAllocatable) if (res.scalar(name) >= min) return true;
    return false;
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
  private release(fw: FrameworkClient, agent: AgentState, res: Resources): void {
    const held = agent.alloc.get(fw.name) ?? Resources.EMPTY;
    this.setAlloc(agent, fw.name, held.minus(res));
    const vec = this.vecOf(res);
    subVec(fw.alloc, vec);
    subVec(fw.role.alloc, vec);
    this.refreshShare(fw);
    this.refreshShare(fw.role);
    this.touchAgent(agent);
  }

  private setAlloc(agent: AgentState, fwId: string, res: Resources): void {
    if (res.isEmpty()) agent.alloc.delete(fwId);
    else agent.alloc.set(fwId, res);
  }

  /** The agent's free resources may have grown: recompute them before its next walk. */
  private touchAgent(agent: AgentState): void {
    agent.stale = true;
    agent.version++;
    this.dirty.add(agent);
  }

  private refreshFree(agent: AgentState): void {
    let free = agent.total;
    for (const r of agent.alloc.values()) free = free.minus(r);
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

  private dropFilters(fw: FrameworkClient): void {
    for (const agent of fw.takeFiltered()) agent.filters?.delete(fw);
  }

  // -------------------------------------------------------------------------------------------
  // Shares and heaps

  /** One string object per role name: the walk's comparisons of role names are then cheap. */
  private internRole(name: string): string {
    const known = this.roleNames.get(name);
    if (known !== undefined) return known;
    this.roleNames.set(name, name);
    return name;
  }

  private role(name: string): RoleClient {
    let role = this.roles.get(name);
    if (!role) {
      role = new RoleClient(this.internRole(name), this.weights.get(name) ?? 1);
      this.roles.set(name, role);
      this.roleOrder.add(role);
      this.rolesGen++;
    }
    return role;
  }

  private maybeDropRole(role: RoleClient): void {
    if (role.members.size === 0) {
      this.roleHeap.remove(role);
      this.roles.delete(role.name);
      this.roleOrder.remove(role);
      this.rolesGen++;
    }
  }

  /** Put a framework in its role's heap if it can receive offers. */
  private place(fw: FrameworkClient): void {
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

  private unplace(fw: FrameworkClient): void {
    const heap = fw.role.frameworks;
    heap.remove(fw);
    if (heap.size === 0) this.roleHeap.remove(fw.role);
  }

  private dominantShare(alloc: Vec): number {
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

  private refreshShare(c: FrameworkClient | RoleClient): void {
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

  private recomputeShares(): void {
    this.sharesStale = false;
    for (const role of this.roles.values()) {
      for (const fw of role.members) this.refreshShareValue(fw);
      role.frameworks.rebuild();
      this.refreshShareValue(role);
    }
    this.roleHeap.rebuild();
  }

  /** Add the non-revocable scalars of `res` (in thousandths) to two vectors. */
  private accumulate(res: Resources, a: Vec, b: Vec): void {
    for (const r of res) {
      if (r.type !== 'SCALAR' || r.revocable) continue;
      const d = this.dim(r.name);
      const m = toMilli(r.scalar ?? 0);
      addAt(a, d, m);
      addAt(b, d, m);
    }
  }

  /** Non-revocable scalar amounts of `res` per dimension, in thousandths. */
  private vecOf(res: Resources): Vec {
    const v = newVec(this.dims.size);
    for (const r of res) {
      if (r.type !== 'SCALAR' || r.revocable) continue;
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

/** The index of the agent's reservation for `role` if it is still free, else -1 (`role` interned). */
function freeReservation(agent: AgentState, role: string): number {
  if (agent.reservedCount === 1) return agent.reservedRole === role && agent.takenBits === 0 ? 0 : -1;
  const list = agent.reserved;
  for (let i = 0; i < list.length; i++) if (list[i]!.role === role) return isTaken(agent, i) ? -1 : i;
  return -1;
}

/** Reservations whose taken mark is a bit of AgentState.takenBits (a small integer). */
const TAKEN_BITS = 30;

function isTaken(agent: AgentState, i: number): boolean {
  return i < TAKEN_BITS ? (agent.takenBits & (1 << i)) !== 0 : agent.takenMore?.[i - TAKEN_BITS] === true;
}

/** The agent's i-th reservation was offered: not free until its free resources are recomputed. */
function markTaken(agent: AgentState, i: number): void {
  if (i < TAKEN_BITS) agent.takenBits |= 1 << i;
  else (agent.takenMore ??= [])[i - TAKEN_BITS] = true;
  agent.reservedLeft--;
}

// A shorter `into` grows first (with zeros at its end: no holes), so the loop reads no element
// past its end: a read that may give undefined (`into[d] ?? 0`) made each sum a number box,
// about 40 bytes per offer.
function addVec(into: Vec, v: Vec): void {
  while (into.length < v.length) into.push(0);
  for (let d = 0; d < v.length; d++) into[d]! += v[d]!;
}

function subVec(into: Vec, v: Vec): void {
  while (into.length < v.length) into.push(0);
  for (let d = 0; d < v.length; d++) into[d]! -= v[d]!;
}

/** v[d] += x, zeros first where v is shorter (no holes). */
function addAt(v: Vec, d: number, x: number): void {
  while (v.length <= d) v.push(0);
  v[d]! += x;
}
