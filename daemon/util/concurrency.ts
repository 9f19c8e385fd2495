/**
 * Bounded concurrency for batch jobs (enrolment, the evaluation's own renders): sharp and ONNX Runtime do their work
 * off the main thread, so a few items in flight keep a small machine's cores busy where one at a time leaves them idle.
 */

/** Runs `task` on every item, at most `limit` at a time; rejects with the first failure (items not yet begun are skipped). */
export async function forEachConcurrently<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<unknown>): Promise<void> {
  if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`limit must be an integer >= 1, got ${limit}`);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        await task(items[index], index);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Maps every item with `task`, at most `limit` at a time, and hands the results to `sink` in the items' order, each as
 * soon as it and all before it are done: the output is the same as one at a time, while at most `4 × limit` results
 * wait in memory (an item does not begin that far ahead of the first unfinished one; a 10,000-spot enrolment should
 * not hold every spot's views at once). Rejects with the first failure.
 */
export async function mapInOrder<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
  sink: (result: R, index: number) => void | Promise<void>,
): Promise<void> {
  const done = new Map<number, R>();
  const window = 4 * limit;
  let flushed = 0;
  let waiting: (() => void)[] = [];
  // Sinks run one at a time, in order, even when several results land together.
  let flushing: Promise<void> = Promise.resolve();
  const flush = async () => {
    while (done.has(flushed)) {
      const result = done.get(flushed)!;
      done.delete(flushed);
      await sink(result, flushed++);
      const woken = waiting;
      waiting = [];
      for (const wake of woken) wake();
    }
  };
  await forEachConcurrently(items, limit, async (item, index) => {
    // The first unfinished item is always under way (indices are handed out in order), so this wait always ends.
    while (index - flushed >= window) await new Promise<void>((resolve) => waiting.push(resolve));
    done.set(index, await task(item, index));
    flushing = flushing.then(flush);
    await flushing;
  });
}
