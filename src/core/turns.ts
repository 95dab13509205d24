/**
 * Runs `work` once the turn taken before it on `holder[key]` has ended, and holds the turn until `work`
 * settles, so calls sharing the field run one after another. The field is `null` while nobody holds it:
 * an idle holder (a request that never saves) costs nothing.
 */
export async function inTurn<K extends string, T>(
  holder: Record<K, Promise<void> | null>,
  key: K,
  work: () => T | Promise<T>,
): Promise<T> {
  const before = holder[key];
  let done: () => void = () => undefined;
  const turn = new Promise<void>((resolve) => {
    done = resolve;
  });
  holder[key] = turn;
  try {
    if (before !== null) await before;
    return await work();
  } finally {
    done();
    if (holder[key] === turn) holder[key] = null;
  }
}
