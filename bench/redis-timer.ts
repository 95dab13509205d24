/**
 * What node-redis's per-command timer costs the client: `npm run bench:redis-timer`.
 *
 * node-redis 5+ arms an `AbortSignal.timeout()` for every command (its `commandOptions.timeout`, 5 s
 * unless set) and never clears it. This sends GETs in batches of 32 concurrent commands (as a busy
 * server does), alternately with the client's timer and without it (`{ timeout: 0 }`, as RedisStore
 * sends while the client is connected), and prints the client process's CPU time per command.
 */
import { createClient } from 'redis';
import { median, option, REDIS_URL } from './common.js';

const argv = process.argv.slice(2);
const rounds = Number(option(argv, '--rounds', '6'));
const batches = Number(option(argv, '--batches', '3000'));
const BATCH = 32;

const client = createClient({ url: REDIS_URL });
await client.connect();

async function cpuPerCommand(options: { timeout: number } | undefined): Promise<number> {
  const start = process.cpuUsage();
  for (let b = 0; b < batches; b++) {
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < BATCH; i++) sent.push(client.sendCommand(['GET', `bench:timer:${i}`], options));
    await Promise.all(sent);
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / (batches * BATCH);
}

await cpuPerCommand(undefined); // warm-up
const withTimer: number[] = [];
const without: number[] = [];
for (let round = 0; round < rounds; round++) {
  // Alternate which goes first, so neither always runs on a heap the other left behind.
  if (round % 2 === 0) {
    withTimer.push(await cpuPerCommand(undefined));
    without.push(await cpuPerCommand({ timeout: 0 }));
  } else {
    without.push(await cpuPerCommand({ timeout: 0 }));
    withTimer.push(await cpuPerCommand(undefined));
  }
}
await client.close();
const a = median(withTimer);
const b = median(without);
console.log(`node-redis client CPU per command, ${BATCH} concurrent commands, median of ${rounds} rounds:`);
console.log('| Sent | µs/command |');
console.log('|---|---:|');
console.log(`| with the client's 5 s timer (its default) | ${a.toFixed(2)} |`);
console.log(`| without it (\`{ timeout: 0 }\`, as RedisStore sends while connected) | ${b.toFixed(2)} |`);
console.log(
  `The timer costs ${(a - b).toFixed(2)} µs per command (${(a / b).toFixed(1)}× the command without it).`,
);
process.exit(0);
