/**
 * Ranks of names in their sort order (JavaScript's `<` on strings, as the allocator's ties are
 * broken), kept on the named items themselves: heap comparisons that tie on share compare two
 * integers instead of two strings. Adding or removing an item renumbers the others, O(items),
 * and then calls `renumbered` (heaps keep copies of the ranks): frameworks and roles come and
 * go rarely, comparisons happen many times per agent walked.
 */
export interface Ranked {
  readonly name: string;
  rank: number;
}

export class NameOrder<T extends Ranked> {
  /** The items sorted by name; an item's rank is its index here. */
  private readonly sorted: T[] = [];

  constructor(private readonly renumbered: () => void) {}

  add(item: T): void {
    const list = this.sorted;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.name < item.name) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, item);
    this.renumber(lo);
  }

  remove(item: T): void {
    const i = item.rank;
    if (this.sorted[i] !== item) return;
    this.sorted.splice(i, 1);
    this.renumber(i);
    item.rank = -1;
  }

  private renumber(from: number): void {
    const list = this.sorted;
    for (let i = from; i < list.length; i++) list[i]!.rank = i;
    this.renumbered();
  }
}
