import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

/** A port nothing listens on right now, for a server started in a child process. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Runs `start` on a free port, and again on another (three tries in all) when it failed because the
 * port was taken in between: four test files run at once, and another's server can bind the port
 * between freePort() and the child's own listen.
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (error) {
      if (attempt === 3 || !/EADDRINUSE|already in use|is in use/i.test(String(error))) throw error;
    }
  }
}

/**
 * Starts a framework's dev server as the leader of its own process group and resolves once its
 * output contains `ready`; rejects with that output if it exits first.
 */
export async function startDevServer(
  name: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; ready: string },
): Promise<ChildProcess> {
  const server = spawn(process.execPath, args, { cwd: options.cwd, detached: true, env: options.env });
  let output = '';
  await new Promise<void>((ready, fail) => {
    server.stdout?.on('data', (chunk: Buffer) => {
      output += chunk;
      if (output.includes(options.ready)) ready();
    });
    server.stderr?.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    server.once('exit', (code) => fail(new Error(`${name} exited with ${code}:\n${output}`)));
  });
  return server;
}

/** Ends a server from startDevServer with the whole group it leads, as dev servers run workers of their own. */
export async function stopDevServer(server: ChildProcess | undefined): Promise<void> {
  if (server?.pid !== undefined && server.exitCode === null) {
    const exited = once(server, 'exit');
    process.kill(-server.pid, 'SIGTERM');
    await exited;
  }
}
