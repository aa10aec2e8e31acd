/**
 * The allocator's records. Agents: their holdings, filters and free resources split the way a
 * walk consumes them (unreserved, revocable, reservations by role), with the walk's facts
 * precomputed. Clients: roles and their frameworks, each with its allocation (a Vec) and
 * dominant share, kept in share order in IndexedHeaps (roles in the allocator's heap, a role's
 * eligible frameworks in its own).
 */
import { Resources } from '../../common/resources/index.ts';
import { IndexedHeap, type HeapItem } from './heap.ts';
import { Holdings } from './holdings.ts';
import { NO_VEC, newVec, type Vec } from './vec.ts';

export interface Filter {
  readonly refused: Resources;
  readonly expiresAt: number;
}

export const NO_RESERVATIONS: readonly Reservation[] = [];

/**
 * One role's reservation among an agent's free resources, with what the walk needs
 * precomputed. Part of a FreeSplit: shared by the agents with the same total, never written
 * to but for the cache of the role's client; which ones an agent has offered it keeps in bits
 * of its own (see markTaken).
 */
export interface Reservation {
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
export interface FreeSplit {
  readonly unreserved: Resources;
  readonly unreservedVec: Vec;
  readonly unreservedOk: boolean;
  readonly revocable: Resources;
  readonly revocableReserved: boolean;
  readonly reserved: readonly Reservation[];
}

export class RoleClient implements HeapItem {
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

export class FrameworkClient implements HeapItem {
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
  constructor(
    readonly name: string,
    public role: RoleClient,
    public revocable: boolean,
    /**
     * A small number of its own among the known frameworks (reused after it is removed): its
     * bit in the agents' `filterBits`.
     */
    readonly slot: number,
  ) {}

  /**
   * Whether this framework has a filter on `agent`: 0 none; FILTERED some; COVERED some, and one
   * of them refuses all that the agent has free, so whatever it would be offered there. Bits of
   * the agent's, not a lookup in a set or map: after declines the walk passes every framework
   * that declined the agent before it reaches one that did not (in Mesos's DeclineOffers case,
   * half the frameworks it visits), and those lookups were most of a steady cycle's time. The
   * agent's bits are a cache line or two that its walk reads again for each framework.
   */
  filterHere(agent: AgentState): number {
    const bits = agent.filterBits;
    if (bits === undefined) return 0;
    const w = (this.slot >>> 5) << 1;
    if (w >= bits.length) return 0;
    const bit = 1 << (this.slot & 31);
    return (bits[w]! & bit) === 0 ? 0 : (bits[w + 1]! & bit) === 0 ? FILTERED : COVERED;
  }

  filterOn(agent: AgentState): void {
    this.filteredOn.add(agent);
    const w = (this.slot >>> 5) << 1;
    let bits = agent.filterBits;
    if (bits === undefined || w >= bits.length) {
      const grown = new Int32Array(Math.max(w + 2, (bits?.length ?? 0) * 2));
      if (bits) grown.set(bits);
      agent.filterBits = bits = grown;
    }
    bits[w]! |= 1 << (this.slot & 31);
  }

  /**
   * One of its filters on `agent` (unexpired) refuses the most this framework can be offered of the
   * agent's free resources as they are now (`free`): its unreserved part with this framework's
   * role's reservation, and there is nothing revocable.
   */
  coverOn(agent: AgentState): void {
    agent.filterBits![((this.slot >>> 5) << 1) + 1]! |= 1 << (this.slot & 31);
  }

  /** Its filters on `agent` changed: whether one refuses all that is free there is to be found again. */
  uncoverOn(agent: AgentState): void {
    const bits = agent.filterBits;
    const w = (this.slot >>> 5) << 1;
    if (bits !== undefined && w < bits.length) bits[w + 1]! &= ~(1 << (this.slot & 31));
  }

  /** Its role changed, and with it what it can be offered: clear its cover bits everywhere. */
  uncoverAll(): void {
    for (const agent of this.filteredOn) this.uncoverOn(agent);
  }

  unfilterOn(agent: AgentState): void {
    this.filteredOn.delete(agent);
    clearBits(agent, this.slot);
  }

  /** The agents with a filter of this framework; forgets them. */
  takeFiltered(): AgentState[] {
    const agents = [...this.filteredOn];
    this.filteredOn.clear();
    for (const agent of agents) clearBits(agent, this.slot);
    return agents;
  }
}

/** FrameworkClient.filterHere's answers. */
export const FILTERED = 1;
export const COVERED = 2;

function clearBits(agent: AgentState, slot: number): void {
  const bits = agent.filterBits;
  const w = (slot >>> 5) << 1;
  if (bits === undefined || w >= bits.length) return;
  const mask = ~(1 << (slot & 31));
  bits[w]! &= mask;
  bits[w + 1]! &= mask;
}

export class AgentState extends Holdings {
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
  /**
   * Per framework slot (see FrameworkClient.filterHere), in pairs of words: word 2k has bit j
   * set when the framework of slot 32k+j has a filter here, word 2k+1 when one of its filters
   * refuses all it can be offered of `free` (see FrameworkClient.coverOn). Made with the first filter.
   */
  filterBits: Int32Array | undefined = undefined;
  /** split.revocable of `free` is not empty. */
  freeHasRevocable = false;
  /** No filter here expires before this time (the earliest expiry, or earlier). */
  filtersCheckAt = Infinity;
  /** All the agent's free resources, as refreshFree last found them (the cover bits are about this object). */
  free: Resources = Resources.EMPTY;
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

/** The index of the agent's reservation for `role` if it is still free, else -1 (`role` interned). */
export function freeReservation(agent: AgentState, role: string): number {
  if (agent.reservedCount === 1) return agent.reservedRole === role && agent.takenBits === 0 ? 0 : -1;
  const list = agent.reserved;
  for (let i = 0; i < list.length; i++) if (list[i]!.role === role) return isTaken(agent, i) ? -1 : i;
  return -1;
}

/** Whether the agent's free resources have a reservation for `role`, taken or not. */
export function hasReservationFor(agent: AgentState, role: string): boolean {
  const list = agent.reserved;
  for (let i = 0; i < list.length; i++) if (list[i]!.role === role) return true;
  return false;
}

/** Reservations whose taken mark is a bit of AgentState.takenBits (a small integer). */
const TAKEN_BITS = 30;

export function isTaken(agent: AgentState, i: number): boolean {
  return i < TAKEN_BITS ? (agent.takenBits & (1 << i)) !== 0 : agent.takenMore?.[i - TAKEN_BITS] === true;
}

/** The agent's i-th reservation was offered: not free until its free resources are recomputed. */
export function markTaken(agent: AgentState, i: number): void {
  if (i < TAKEN_BITS) agent.takenBits |= 1 << i;
  else (agent.takenMore ??= [])[i - TAKEN_BITS] = true;
  agent.reservedLeft--;
}
