/**
 * An indexed binary min-heap of the allocator's clients, in ascending share, ties by rank:
 * every item remembers its position, so a changed key is re-sifted in O(log n) and an item can
 * be removed from the middle. `walk` visits items in ascending order without changing the heap
 * (best-first search over the heap tree), for the allocator's "sorted once per agent" walk.
 *
 * The heap keeps each item's key (share and rank) in arrays of its own, next to one another,
 * and compares those: a sift then reads a few cache lines of the heap instead of every client
 * object it passes and the box of its share (a walk over 10k agents keeps little else in the
 * cache). So the heap learns a key only when told: push, update, increased and rebuild read
 * the items' shares; refreshRanks their ranks.
 */
export interface HeapItem {
  heapIndex: number;
  /** The key. */
  share: number;
  /** Breaks ties of share (distinct among the items of one heap); renumbering must keep their order. */
  rank: number;
}

/** Whether `a` comes before `b` (the heap's order, on the items themselves). */
export function heapLess(a: HeapItem, b: HeapItem): boolean {
  return a.share < b.share || (a.share === b.share && a.rank < b.rank);
}

export class IndexedHeap<T extends HeapItem> {
  private readonly items: T[] = [];
  /** shares[i] and ranks[i]: the key of items[i]. */
  private shares = new Float64Array(4);
  private ranks = new Int32Array(4);
  // Scratch min-heap of indices for walk(), reused to avoid allocation on the hot path. Its
  // size is counted apart: emptying a JS array (length = 0, or popping its last item) gives its
  // storage back, and the next walk would allocate it again.
  private readonly frontier: number[] = [];
  private fSize = 0;

  get size(): number {
    return this.items.length;
  }

  has(item: T): boolean {
    return item.heapIndex >= 0 && this.items[item.heapIndex] === item;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const i = this.items.length;
    if (i === this.shares.length) this.grow();
    this.items.push(item);
    this.shares[i] = item.share;
    this.ranks[i] = item.rank;
    this.up(i);
  }

  remove(item: T): void {
    if (!this.has(item)) return;
    const i = item.heapIndex;
    const n = this.items.length - 1;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last !== item) {
      this.items[i] = last;
      this.shares[i] = this.shares[n]!;
      this.ranks[i] = this.ranks[n]!;
      last.heapIndex = i;
      this.down(i);
      this.up(last.heapIndex);
    }
  }

  /** Restore order after `item`'s share changed. */
  update(item: T): void {
    if (!this.has(item)) return;
    this.shares[item.heapIndex] = item.share;
    this.up(item.heapIndex);
    this.down(item.heapIndex);
  }

  /** Restore order after `item`'s share grew (it can only move down). */
  increased(item: T): void {
    if (!this.has(item)) return;
    this.shares[item.heapIndex] = item.share;
    this.down(item.heapIndex);
  }

  /** Re-establish heap order after many shares changed. */
  rebuild(): void {
    const items = this.items;
    for (let i = 0; i < items.length; i++) this.shares[i] = items[i]!.share;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /** The items' ranks were renumbered (in the same order): read them again. */
  refreshRanks(): void {
    const items = this.items;
    for (let i = 0; i < items.length; i++) this.ranks[i] = items[i]!.rank;
  }

  values(): readonly T[] {
    return this.items;
  }

  /**
   * Visit items in ascending order until `visit` returns true. Keys must not change during the
   * walk (callers defer updates until it ends). Costs O(k log k) for k visited items. `visit`
   * gets `ctx` first: callers pass one function made once, not a closure made per use.
   */
  walk<C>(ctx: C, visit: (ctx: C, item: T) => boolean): void {
    const items = this.items;
    if (items.length === 0 || visit(ctx, items[0]!) || items.length === 1) return;
    // Best-first expansion of the heap tree through a small min-heap of indices.
    // Walks of different heaps may nest (roles, then a role's frameworks); a heap's own walk
    // never does, so its frontier starts empty.
    this.fSize = 0;
    this.pushF(1);
    if (items.length > 2) this.pushF(2);
    while (this.fSize > 0) {
      const idx = this.popF();
      if (visit(ctx, items[idx]!)) break;
      const l = 2 * idx + 1;
      if (l < items.length) this.pushF(l);
      if (l + 1 < items.length) this.pushF(l + 1);
    }
    this.fSize = 0;
  }

  private lessAt(a: number, b: number): boolean {
    const sa = this.shares[a]!;
    const sb = this.shares[b]!;
    return sa < sb || (sa === sb && this.ranks[a]! < this.ranks[b]!);
  }

  private grow(): void {
    const shares = new Float64Array(this.shares.length * 2);
    const ranks = new Int32Array(this.ranks.length * 2);
    shares.set(this.shares);
    ranks.set(this.ranks);
    this.shares = shares;
    this.ranks = ranks;
  }

  private pushF(idx: number): void {
    const f = this.frontier;
    let i = this.fSize++;
    f[i] = idx;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.lessAt(f[i]!, f[p]!)) break;
      const t = f[i]!;
      f[i] = f[p]!;
      f[p] = t;
      i = p;
    }
  }

  private popF(): number {
    const f = this.frontier;
    const top = f[0]!;
    const n = --this.fSize;
    if (n > 0) {
      f[0] = f[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < n && this.lessAt(f[l]!, f[m]!)) m = l;
        if (r < n && this.lessAt(f[r]!, f[m]!)) m = r;
        if (m === i) break;
        const t = f[i]!;
        f[i] = f[m]!;
        f[m] = t;
        i = m;
      }
    }
    return top;
  }

  private up(i: number): void {
    const items = this.items;
    const shares = this.shares;
    const ranks = this.ranks;
    const item = items[i]!;
    const share = shares[i]!;
    const rank = ranks[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ps = shares[p]!;
      if (!(share < ps || (share === ps && rank < ranks[p]!))) break;
      const parent = items[p]!;
      items[i] = parent;
      shares[i] = ps;
      ranks[i] = ranks[p]!;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    shares[i] = share;
    ranks[i] = rank;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const shares = this.shares;
    const ranks = this.ranks;
    const n = items.length;
    const item = items[i]!;
    const share = shares[i]!;
    const rank = ranks[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n) {
        const sr = shares[r]!;
        const sl = shares[l]!;
        if (sr < sl || (sr === sl && ranks[r]! < ranks[l]!)) c = r;
      }
      const cs = shares[c]!;
      if (!(cs < share || (cs === share && ranks[c]! < rank))) break;
      const child = items[c]!;
      items[i] = child;
      shares[i] = cs;
      ranks[i] = ranks[c]!;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    shares[i] = share;
    ranks[i] = rank;
    item.heapIndex = i;
  }
}
