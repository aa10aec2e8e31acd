/** Scalar vectors of the allocator: amounts per resource dimension, in thousandths. */

/**
 * Scalar amounts per dimension, in thousandths (exact arithmetic). Every vector is an array of
 * doubles without holes: made by newVec and grown only at its end, so addVec and dominantShare
 * see one kind of array (V8 keeps arrays of small integers, and arrays with holes, as other
 * kinds; vectors used to be of several).
 */
export type Vec = number[];

/** A vector of `length` zeros, stored as doubles (see Vec). */
export function newVec(length = 0): Vec {
  const v = [0.5];
  v.pop();
  for (let d = 0; d < length; d++) v.push(0);
  return v;
}

/** The vector of nothing; like every vector kept for the walk, only ever read. */
export const NO_VEC: Vec = newVec();

// A shorter `into` grows first (with zeros at its end: no holes), so the loop reads no element
// past its end: a read that may give undefined (`into[d] ?? 0`) made each sum a number box,
// about 40 bytes per offer.
export function addVec(into: Vec, v: Vec): void {
  while (into.length < v.length) into.push(0);
  for (let d = 0; d < v.length; d++) into[d]! += v[d]!;
}

export function subVec(into: Vec, v: Vec): void {
  while (into.length < v.length) into.push(0);
  for (let d = 0; d < v.length; d++) into[d]! -= v[d]!;
}

/** v[d] += x, zeros first where v is shorter (no holes). */
export function addAt(v: Vec, d: number, x: number): void {
  while (v.length <= d) v.push(0);
  v[d]! += x;
}
