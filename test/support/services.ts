/**
 * Decides whether a suite that needs a real server runs. In CI (`CI=true`) a server that cannot be
 * reached is a failure; on a laptop without it the suite is skipped, with one loud line saying why.
 * Returns the skip reason, or `false` when the server answered.
 */
export async function serviceSkipReason(
  name: string,
  probe: () => Promise<unknown>,
): Promise<string | false> {
  try {
    await probe();
    return false;
  } catch (error) {
    const reason = `${name} is not reachable (${error instanceof Error ? error.message : String(error)})`;
    if (process.env.CI === 'true' || process.env.CI === '1') {
      throw new Error(`${reason}: in CI every store suite must run against its real server`);
    }
    console.warn(`\n!!! SKIPPING ${name} tests: ${reason}. Start the server to run them.\n`);
    return reason;
  }
}

/** A name no other test run uses, for tables, prefixes and collections. */
export function runNamespace(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** `url` pointed at another host and port (a proxy in front of the server, for the network tests). */
export function urlVia(url: string, host: string, port: number): string {
  const via = new URL(url);
  via.hostname = host;
  via.port = String(port);
  return via.href;
}

/** The mysql2 connection options a MySQL/MariaDB URL such as `mysql://root@127.0.0.1:3306/test` names. */
export function mysqlConnection(url: string) {
  const upstream = new URL(url);
  return {
    host: upstream.hostname,
    port: Number(upstream.port || 3306),
    user: decodeURIComponent(upstream.username || 'root'),
    password: decodeURIComponent(upstream.password),
    database: decodeURIComponent(upstream.pathname.slice(1)),
  };
}
