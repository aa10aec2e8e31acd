/**
 * An indexed binary min-heap: every item remembers its position, so a changed key is re-sifted
 * in O(log n) and an item can be removed from the middle. `walk` visits items in ascending order
 * without changing the heap (best-first search over the heap tree), for the allocator's
 * "sorted once per agent" walk.
 */
export interface HeapItem {
  heapIndex: number;
}

export class IndexedHeap<T extends HeapItem> {
  private readonly items: T[] = [];
  // Scratch min-heap of indices for walk(), reused to avoid allocation on the hot path. Its
  // size is counted apart: emptying a JS array (length = 0, or popping its last item) gives its
  // storage back, and the next walk would allocate it again.
  private readonly frontier: number[] = [];
  private fSize = 0;

  constructor(private readonly less: (a: T, b: T) => boolean) {}

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
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  remove(item: T): void {
    if (!this.has(item)) return;
    const i = item.heapIndex;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last !== item) {
      this.items[i] = last;
      last.heapIndex = i;
      this.down(i);
      this.up(last.heapIndex);
    }
  }

  /** Restore order after `item`'s key changed. */
  update(item: T): void {
    if (!this.has(item)) return;
    this.up(item.heapIndex);
    this.down(item.heapIndex);
  }

  /** Restore order after `item`'s key grew (it can only move down). */
  increased(item: T): void {
    if (this.has(item)) this.down(item.heapIndex);
  }

  /** Re-establish heap order after many keys changed. */
  rebuild(): void {
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  values(): readonly T[] {
    return this.items;
  }

  /**
   * Visit items in ascending order until `visit` returns true. Keys must not change during the
   * walk (callers defer updates until it ends). Costs O(k log k) for k visited items.
   */
  walk(visit: (item: T) => boolean): void {
    const items = this.items;
    if (items.length === 0 || visit(items[0]!) || items.length === 1) return;
    // Best-first expansion of the heap tree through a small min-heap of indices.
    // Walks of different heaps may nest (roles, then a role's frameworks); a heap's own walk
    // never does, so its frontier starts empty.
    this.fSize = 0;
    this.pushF(1);
    if (items.length > 2) this.pushF(2);
    while (this.fSize > 0) {
      const idx = this.popF();
      if (visit(items[idx]!)) break;
      const l = 2 * idx + 1;
      if (l < items.length) this.pushF(l);
      if (l + 1 < items.length) this.pushF(l + 1);
    }
    this.fSize = 0;
  }

  private lessAt(a: number, b: number): boolean {
    return this.less(this.items[a]!, this.items[b]!);
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
    const item = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!this.less(item, parent)) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.less(items[r]!, items[l]!)) c = r;
      const child = items[c]!;
      if (!this.less(child, item)) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
