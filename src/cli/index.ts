#!/usr/bin/env node
import { ExitCode } from './exit.js';
import { main } from './main.js';

// Piping into `head` closes stdout early; that is not an error worth a stack trace.
process.stdout.on('error', () => process.exit(ExitCode.ok));

const code = await main(process.argv.slice(2));
// Drivers may hold sockets or timers after close(); the command is done, so leave now, after stdout drains.
process.stdout.write('', () => process.exit(code));
