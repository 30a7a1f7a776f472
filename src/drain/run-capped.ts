/**
 * Runs `work` over every item with at most `cap` in flight, and returns the results in input
 * order. `work` must not throw (each pod reports its own outcome).
 */
export async function runCapped<T, R>(
  items: readonly T[],
  cap: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  };
  const workers = Math.max(1, Math.min(Math.floor(cap) || 1, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}
