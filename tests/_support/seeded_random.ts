/**
 * A seeded PRNG for the randomized tests, so a failing case can be
 * replayed. Internal to the tests.
 *
 * @module
 */

/** A small deterministic PRNG (mulberry32) with helpers. */
export class SeededRandom {
  #state: number;

  /** @param seed Where the sequence starts; the same seed, the same one. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** An integer in [0, max). */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** `true` with the given probability. */
  chance(probability: number): boolean {
    return this.next() < probability;
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** `length` random bytes. */
  bytes(length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = this.int(256);
    return bytes;
  }

  /** A random 64-bit unsigned integer. */
  uint64(): bigint {
    return (BigInt(this.int(2 ** 32)) << 32n) | BigInt(this.int(2 ** 32));
  }
}

/** A seeded PRNG as one function: each call gives an integer in
 * [0, limit). */
export function prng(seed: number): (limit: number) => number {
  const random = new SeededRandom(seed);
  return (limit) => random.int(limit);
}
