/**
 * The Temporal server `npm start` uses: TEMPORAL_ADDRESS when set, else a local dev server
 * (SQLite file under the data folder, Web UI) run as our own child process, so its death is
 * seen at once (`exited`) instead of leaving the API and worker running without it.
 * Development only: deployments set TEMPORAL_ADDRESS and never import this file's fallback.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { JOURNEY_SEARCH_ATTRIBUTES } from '../workflows/journey-identity';
import type { Env } from './env';
import type { Logger } from './logger';
import { assertPortFree, StartupError } from './startup';
import { temporalCli } from './temporal-binaries';
import { clientConnectionOptions, registerSearchAttributes, temporalSettings, type TemporalSettings } from './temporal';

export interface TemporalHandle {
  settings: TemporalSettings;
  /** Web UI of the dev server we started; undefined for an external server. */
  uiUrl?: string;
  /** Settles when a dev server we started exits (never for an external server). */
  exited: Promise<DevServerExit>;
  stop(): Promise<void>;
}

export interface DevServerExit {
  /** One line for the user: which binary, how it ended, its last words. */
  message: string;
  signal: NodeJS.Signals | null;
}

const never = new Promise<DevServerExit>(() => undefined);
const READY_WITHIN_MS = 60_000;

/** The dev server's gRPC and UI ports: a one-line StartupError naming the variable when taken. */
export async function assertDevServerPortsFree(env: Pick<Env, 'TEMPORAL_PORT' | 'TEMPORAL_UI_PORT'>): Promise<void> {
  const hint = ', or set TEMPORAL_ADDRESS to use a server that is already running';
  await assertPortFree(env.TEMPORAL_PORT, 'TEMPORAL_PORT', '127.0.0.1', hint);
  await assertPortFree(env.TEMPORAL_UI_PORT, 'TEMPORAL_UI_PORT', '127.0.0.1');
}

export async function resolveTemporal(env: Env, log: Logger): Promise<TemporalHandle> {
  if (env.TEMPORAL_ADDRESS) {
    const settings = temporalSettings(env);
    await registerSearchAttributes(settings, log);
    return { settings, exited: never, stop: async () => undefined };
  }
  const executable = temporalCli();
  await assertDevServerPortsFree(env);
  mkdirSync(env.PARCOURS_DATA_DIR, { recursive: true });
  const settings: TemporalSettings = { address: `127.0.0.1:${env.TEMPORAL_PORT}`, namespace: env.TEMPORAL_NAMESPACE };
  const uiUrl = `http://127.0.0.1:${env.TEMPORAL_UI_PORT}`;
  if (executable.type === 'cached-download') return startWithSdkDownload(env, settings, uiUrl, log);

  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(env.TEMPORAL_PORT),
    '--ui-port',
    String(env.TEMPORAL_UI_PORT),
    '--db-filename',
    path.join(env.PARCOURS_DATA_DIR, 'temporal.sqlite'),
    '--namespace',
    env.TEMPORAL_NAMESPACE,
    '--log-format',
    'pretty',
    '--log-level',
    'warn',
    ...JOURNEY_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
  ];
  const child = spawn(executable.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // The banner (stdout) would drown `npm start`'s own summary; warnings (stderr) pass through.
  // Both are kept in a short tail, to explain a server that dies.
  let tail = '';
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-2000));
  child.stdout.on('data', keep);
  let stopping = false;
  child.stderr.on('data', (chunk: Buffer) => {
    keep(chunk);
    // Once we stop it, its complaints about closing connections are noise.
    if (!stopping) process.stderr.write(chunk);
  });
  const exited = new Promise<DevServerExit>((resolve) => {
    child.once('exit', (code, signal) => {
      const lastLine = tail.trim().split('\n').filter(Boolean).pop() ?? '';
      resolve({
        message: `the Temporal dev server (${executable.path}) exited (${signal ?? `code ${code}`})${lastLine ? `: ${lastLine.slice(0, 300)}` : ''}`,
        signal,
      });
    });
    child.once('error', (err) =>
      resolve({ message: `the Temporal dev server (${executable.path}) could not run: ${err.message}`, signal: null }),
    );
  });
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };

  const deadline = Date.now() + READY_WITHIN_MS;
  let ready = false;
  const gone = exited.then((exit) => {
    if (!ready) throw new StartupError(exit.message);
    return exit;
  });
  gone.catch(() => undefined);
  while (!ready) {
    if (child.exitCode !== null || child.signalCode !== null) await gone;
    try {
      const connection = await Connection.connect({ ...clientConnectionOptions(settings), connectTimeout: 1000 });
      await connection.close();
      ready = true;
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new StartupError(
          `the Temporal dev server did not answer on ${settings.address} within ${READY_WITHIN_MS / 1000} s: ${(err as Error).message}`,
        );
      }
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 250)), gone]);
    }
  }
  log.debug({ address: settings.address }, 'Temporal dev server ready');
  return { settings, uiUrl, exited, stop };
}

/**
 * Last resort on machines with internet and no binary: the SDK downloads and runs the CLI. Its
 * child is not ours to watch, so `exited` never settles here (a warning says so).
 */
async function startWithSdkDownload(
  env: Env,
  settings: TemporalSettings,
  uiUrl: string,
  log: Logger,
): Promise<TemporalHandle> {
  log.warn('no temporal binary found: the Temporal SDK downloads the dev server; npm start cannot notice if it dies');
  // A development dependency: only `npm start` from a full install reaches this line.
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const server = await TestWorkflowEnvironment.createLocal({
    server: {
      dbFilename: path.join(env.PARCOURS_DATA_DIR, 'temporal.sqlite'),
      namespace: env.TEMPORAL_NAMESPACE,
      ip: '127.0.0.1',
      port: env.TEMPORAL_PORT,
      ui: true,
      uiPort: env.TEMPORAL_UI_PORT,
      searchAttributes: JOURNEY_SEARCH_ATTRIBUTES,
      log: { format: 'pretty', level: 'warn' },
    },
  });
  return { settings, uiUrl, exited: never, stop: () => server.teardown() };
}
