/**
 * Bounded shutdown. A graceful close waits for the server (QUIT's reply, the end of a pool's
 * connections, a driver's final round trips); a server that accepts connections and never answers would
 * make it wait for ever, and with it an application's shutdown or the CLI's exit.
 */

/**
 * Runs `graceful`; if it has not settled within `ms`, or fails, runs `force` (destroy the sockets) and
 * resolves. Never rejects: a close that had to be forced still leaves nothing open.
 */
export async function closeWithin(
  ms: number,
  graceful: () => Promise<unknown>,
  force: () => unknown,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const clean = await Promise.race([
    Promise.resolve()
      .then(graceful)
      .then(
        () => true,
        () => false,
      ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  if (clean) return;
  try {
    await force();
  } catch {
    // Forcing is the last resort: whatever it could not tear down is unreachable anyway.
  }
}
