/**
 * Start-up failures a user can fix (a port in use, an unreachable database) are one line
 * naming the variable to change; anything else keeps its stack trace for a bug report.
 */
import { createServer } from 'node:net';

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/** Resolves when nothing listens on host:port; a one-line StartupError naming `variable` otherwise. */
export function assertPortFree(port: number, variable: string, host = '0.0.0.0', hint = ''): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE')
        reject(
          new StartupError(
            `${variable}=${port}: port ${port} is already in use (another Parcours or Temporal running?)${hint}; ` +
              `stop it or set ${variable} to a free port`,
          ),
        );
      else if (err.code === 'EACCES')
        reject(
          new StartupError(
            `${variable}=${port}: not allowed to listen on port ${port}; set ${variable} to a port above 1023`,
          ),
        );
      else reject(err);
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** For `main().catch(...)` of every entry point: exits 1. */
export function exitOnStartupFailure(err: unknown): never {
  if (err instanceof StartupError) process.stderr.write(`parcours: ${err.message}\n`);
  else if (err instanceof Error && err.message.startsWith('invalid environment:'))
    process.stderr.write(`parcours: ${err.message}\n`);
  else console.error(err);
  process.exit(1);
}
