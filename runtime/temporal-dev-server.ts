/**
 * The Temporal server `npm start` uses: TEMPORAL_ADDRESS when set, else a local dev server
 * (SQLite file under the data folder, Web UI) run as our own child process, so its death is
 * seen at once (`exited`) instead of leaving the API and worker running without it.
 * Its life is tied to ours the other way too: on Linux it gets SIGKILL when our process dies
 * (even by kill -9: setpriv's parent-death signal), and everywhere its pid is kept under the data
 * folder, so the next start stops one that outlived us instead of refusing its busy port.
 * Development only: deployments set TEMPORAL_ADDRESS and never import this file's fallback.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { JOURNEY_SEARCH_ATTRIBUTES } from './journey-identity';
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

/** Where a running dev server's pid is kept (removed when it exits while we watch it). */
export const devServerPidFile = (dataDir: string) => path.join(dataDir, 'temporal-dev-server.pid');
const databaseFile = (dataDir: string) => path.join(dataDir, 'temporal.sqlite');

/**
 * The command line of a process, or undefined when it is gone or a zombie (a killed orphan whose new
 * parent does not reap it): /proc on Linux, `ps` elsewhere.
 */
function commandOf(pid: number): string | undefined {
  try {
    if (process.platform === 'linux')
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() || undefined;
    const command = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return command && !command.endsWith('<defunct>') ? command : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Stops the dev server a previous `npm start` of this data folder left running (its process was
 * killed where no parent-death signal exists, or before it could stop it). Only a process whose
 * command line is a dev server on this folder's database is touched: a pid reused since is left alone.
 */
export async function stopOrphanedDevServer(dataDir: string, log: Logger): Promise<void> {
  const file = devServerPidFile(dataDir);
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, 'utf8').trim());
  const running = () => {
    const command = Number.isInteger(pid) && pid > 1 ? commandOf(pid) : undefined;
    return command?.includes('start-dev') === true && command.includes(databaseFile(dataDir));
  };
  const exitedWithin = async (ms: number) => {
    for (const deadline = Date.now() + ms; running() && Date.now() < deadline; )
      await new Promise((resolve) => setTimeout(resolve, 100));
    return !running();
  };
  if (running()) {
    log.warn({ pid }, 'stopping the Temporal dev server a previous npm start left running');
    process.kill(pid, 'SIGTERM');
    if (!(await exitedWithin(10_000))) {
      process.kill(pid, 'SIGKILL');
      // Still there after this: the port check that follows says so.
      await exitedWithin(5_000);
    }
  }
  rmSync(file, { force: true });
}

/**
 * Linux: the dev server runs under `setpriv --pdeathsig SIGKILL`, which sets the parent-death
 * signal and execs it (same pid, no extra process): the kernel kills it when we die, however we die.
 */
function tiedToUs(executable: string, args: string[]): [string, string[]] {
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find(
    (candidate) => process.platform === 'linux' && existsSync(candidate),
  );
  return setpriv ? [setpriv, ['--pdeathsig', 'SIGKILL', '--', executable, ...args]] : [executable, args];
}

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
  await stopOrphanedDevServer(env.PARCOURS_DATA_DIR, log);
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
    databaseFile(env.PARCOURS_DATA_DIR),
    '--namespace',
    env.TEMPORAL_NAMESPACE,
    '--log-format',
    'pretty',
    '--log-level',
    'warn',
    ...JOURNEY_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
  ];
  const child = spawn(...tiedToUs(executable.path, args), { stdio: ['ignore', 'pipe', 'pipe'] });
  const pidFile = devServerPidFile(env.PARCOURS_DATA_DIR);
  if (child.pid) writeFileSync(pidFile, `${child.pid}\n`);
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
      rmSync(pidFile, { force: true });
      const lastLine = tail.trim().split('\n').filter(Boolean).pop() ?? '';
      resolve({
        message:
          `the Temporal dev server (${executable.path}) exited (${signal ?? `code ${code}`})` +
          (lastLine ? `: ${lastLine.slice(0, 300)}` : ''),
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
          `the Temporal dev server did not answer on ${settings.address} within ${READY_WITHIN_MS / 1000} s: ` +
            (err as Error).message,
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
      dbFilename: databaseFile(env.PARCOURS_DATA_DIR),
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
