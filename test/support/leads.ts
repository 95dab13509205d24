/**
 * Runs `scenario` with each lead in turn (a TTL, a timeout, a pause: a time the scenario needs some steps
 * to fit in) until one trial reports that its precondition held. A scenario returns false when it saw
 * that the machine was too slow for it (an intermediate step finished after the deadline it had to beat):
 * that trial proves nothing either way, so it asserts nothing and the next, longer lead runs. Whatever a
 * trial whose precondition held asserts is asserted as strictly as before; only slow machines pay for
 * the longer leads.
 */
export async function withLeads(
  leads: readonly number[],
  scenario: (lead: number) => Promise<boolean>,
  what = 'the scenario',
): Promise<void> {
  for (const lead of leads) if (await scenario(lead)) return;
  throw new Error(`${what}: not once in ${leads.length} trials, the last with a lead of ${leads.at(-1)}`);
}

/**
 * Runs `steps`, then tells whether they all ended before `deadline` (a Date.now() time): true when they
 * did, false when they did not (whatever they asserted: a late step may have seen the deadline pass).
 * A step that fails before the deadline fails the trial.
 */
export async function beforeDeadline(deadline: number, steps: () => Promise<void>): Promise<boolean> {
  try {
    await steps();
  } catch (error) {
    if (Date.now() >= deadline) return false;
    throw error;
  }
  return Date.now() < deadline;
}
