import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Why a browser test cannot run here, or false if it can. Outside CI a missing Chromium skips the
 * test loudly; in CI it is an error, so the test cannot pass by not running.
 */
export function chromiumSkipReason(test: string): string | false {
  if (existsSync(CHROMIUM)) return false;
  const reason = `${CHROMIUM} is missing (install it with .ci/run-e2e-setup.sh)`;
  if (process.env.CI === 'true' || process.env.CI === '1')
    throw new Error(`${reason}: in CI the e2e test must run`);
  console.warn(`\n!!! SKIPPING ${test}: ${reason}.\n`);
  return reason;
}
