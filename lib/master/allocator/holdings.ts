import type { Resources } from '../../common/resources/index.ts';

/**
 * What frameworks hold on one agent, by framework id. Most agents are held by one or two
 * frameworks (the unreserved resources and a role's reservation), so those cases live in
 * fields and a Map is made only for a third holder.
 */
export class Holdings {
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
