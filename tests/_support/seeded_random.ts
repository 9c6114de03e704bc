/**
 * A seeded PRNG for the randomized unit tests, so a failing case can be
 * replayed. Internal to the tests.
 *
 * @module
 */

/** A small seeded PRNG (mulberry32), so a failing case can be replayed. */
export function prng(seed: number): (limit: number) => number {
  let state = seed >>> 0;
  return (limit) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    return Math.floor(unit * limit);
  };
}
