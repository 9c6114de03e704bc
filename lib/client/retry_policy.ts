/**
 * How often and how patiently a range is asked again: rounds over all
 * sources after the first, with a delay before each that doubles up to a
 * cap. The defaults live here, once.
 *
 * @module
 */

/** When a range that failed on every source is asked again. */
export interface RetryPolicy {
  /**
   * Rounds over all sources after the first one, per range.
   *
   * @default {3}
   */
  rounds: number;
  /**
   * Delay before the first retry round, in milliseconds; it doubles each
   * round.
   *
   * @default {500}
   */
  baseDelayMs: number;
  /**
   * The longest delay before a round, in milliseconds.
   *
   * @default {8000}
   */
  maxDelayMs: number;
}

/** The defaults of {@linkcode RetryPolicy}. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = {
  rounds: 3,
  baseDelayMs: 500,
  maxDelayMs: 8000,
};

/**
 * A retry policy: the given fields, the defaults for the others.
 *
 * @param options Rounds and delays; `undefined` ones take the default.
 * @returns The policy.
 */
export function retryPolicy(
  options: { [K in keyof RetryPolicy]?: RetryPolicy[K] | undefined } = {},
): RetryPolicy {
  return {
    rounds: options.rounds ?? DEFAULT_RETRY_POLICY.rounds,
    baseDelayMs: options.baseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
    maxDelayMs: options.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
  };
}

/**
 * The delay before a retry round: the base, doubled each round after the
 * first, at most the cap.
 *
 * @param policy The policy.
 * @param round The round, from 1 (round 0 is the first try: no delay).
 * @returns The delay in milliseconds.
 */
export function retryDelayMs(policy: RetryPolicy, round: number): number {
  if (round <= 0) return 0;
  return Math.min(policy.baseDelayMs * 2 ** (round - 1), policy.maxDelayMs);
}

/**
 * Waits `ms`, or less when the signal aborts or `wake` settles.
 *
 * @param ms How long at most.
 * @param signal Ends the wait early.
 * @param wake Ends the wait early once it settles.
 */
export function delay(
  ms: number,
  signal: AbortSignal,
  wake?: Promise<void>,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    wake?.then(done);
  });
}
