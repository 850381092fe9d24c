/** Runs `count` async tasks with at most `concurrency` in flight, timing the whole batch and each task. */
import { performance } from 'node:perf_hooks';
// p-limit 3.x, the CommonJS major (see activities/campaign.ts).
import pLimit from 'p-limit';

export interface LoadResult<T> {
  results: T[];
  seconds: number;
  /** Per-task latency in milliseconds, in task order. */
  latenciesMs: number[];
}

export async function runBounded<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<LoadResult<T>> {
  const results = new Array<T>(count);
  const latenciesMs = new Array<number>(count);
  const limit = pLimit(concurrency);
  const timed = async (index: number): Promise<void> => {
    const t0 = performance.now();
    results[index] = await task(index);
    latenciesMs[index] = performance.now() - t0;
  };
  const start = performance.now();
  // Queued in index order, so tasks start in order as before.
  await Promise.all(Array.from({ length: count }, (_, index) => limit(() => timed(index))));
  return { results, seconds: (performance.now() - start) / 1000, latenciesMs };
}

/** The p-th percentile (0..100) by nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
