/**
 * The one composition root. `npm start` (every role, with development conveniences), the API
 * (`npm run api`, dist/api/server.js) and the worker (`npm run worker`, dist/worker/main.js) all
 * start here, so what each role keeps running is decided once and a role started anywhere runs
 * all of it:
 *   - api: the HTTP API;
 *   - worker: the journey worker, its /health (WORKER_HEALTH_PORT), the calendar clock (every
 *     date trigger: birthdays, name days, calendar moments) and the maintenance Schedule (journeys
 *     reconciled, pending flow-status notices started: worker/schedules.ts), both idempotent;
 *   - both: the router loop (routes deferred events and profile changes made by steps, arms segment
 *     clocks; claims make several processes safe), started once per process.
 * Everything started is stopped in one place, last started first.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { createApp } from '../api/app';
import { IMPORT_REQUEST_TIMEOUT_MS } from '../api/contacts/import';
import { keyId } from '../api/middleware/auth';
import { migrate, requireCurrentSchema } from '../db/migrate';
import { createPool } from '../db/pool';
import { startRouterLoop } from '../routing/router-loop';
import { startMetricsServer } from '../metrics/server';
import {
  apiKeys,
  type Env,
  poolSettings,
  publicUrl,
  rateLimits,
  readEnv,
  requiredLinkSecret,
  webhookSettings,
  writeKeys,
  calendarMoments,
  secretsKey,
} from '../runtime/env';
import { configureMoments } from '../calendar/moments';
import { configureDefaultTimezone } from '../activities/clock';
import { createLogger, installTemporalLogging, type Logger } from '../runtime/logger';
import { resolveDatabase } from '../db/postgres';
import { providersFromEnv } from './providers';
import { assertPortFree, exitOnStartupFailure, StartupError } from '../runtime/startup';
import {
  connectClient,
  connectWorker,
  describeTemporal,
  registerSearchAttributes,
  temporalSettings,
} from '../runtime/temporal';
import {
  assertDevServerPortsFree,
  resolveTemporal,
  stopOrphanedDevServer,
  type TemporalHandle,
} from '../runtime/temporal-dev-server';
import { ensureCalendarClock } from '../worker/calendar-clock';
import { ensureMaintenanceSchedule } from '../worker/schedules';
import { createJourneyWorker, prebuiltWorkflowBundle } from '../worker/create-worker';
import { startWorkerHealthServer } from '../worker/health';
import { developmentKey, developmentSecret, reachableAt, watchParent } from './development';
import { contactDataConverter } from '../db/payload-codec';

export type Role = 'api' | 'worker';

export interface StackOptions {
  roles: readonly Role[];
  /**
   * `npm start`: a Temporal dev server unless TEMPORAL_ADDRESS is set, development keys and link
   * secret when none are configured, a summary on stdout, and a stop when npm goes away.
   */
  development?: boolean;
  /** Default: the process environment. */
  env?: Env;
  log?: Logger;
}

export interface RunningStack {
  /** Where the API listens (api role): the port actually bound, PORT=0 included. */
  apiPort?: number;
  /** Settles with the exit code when stopping begins, whatever began it. */
  stopping: Promise<number>;
  /** Settles with the exit code once everything is stopped. */
  stopped: Promise<number>;
  /** Stops everything (once; later calls wait for the first). */
  stop(exitCode?: number): Promise<number>;
}

const never = new Promise<never>(() => undefined);

/** Starts the roles; on a failure half-way, stops what had started before rethrowing. */
export async function startStack(opts: StackOptions): Promise<RunningStack> {
  const env = opts.env ?? readEnv();
  // One reading of the environment for the whole process: the calendar's own moments included.
  configureMoments(calendarMoments(env));
  configureDefaultTimezone(env.DEFAULT_TIMEZONE);
  const has = (role: Role) => opts.roles.includes(role);
  const name = opts.development ? 'parcours' : `parcours-${opts.roles.join('-')}`;
  const log = opts.log ?? createLogger(env.LOG_LEVEL, name);
  // Under npm start the printed summary says it all; deployments log what they run with.
  const note = (fields: object, message: string) =>
    opts.development ? log.debug(fields, message) : log.info(fields, message);

  const cleanups: { what: string; run: () => Promise<unknown> | unknown }[] = [];
  const started = (what: string, run: () => Promise<unknown> | unknown) => cleanups.push({ what, run });
  let stopping: Promise<number> | undefined;
  let began: (code: number) => void = () => undefined;
  const stoppingBegan = new Promise<number>((resolve) => (began = resolve));
  let settle: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => (settle = resolve));
  const stop = (exitCode = 0): Promise<number> =>
    (stopping ??= (async () => {
      began(exitCode);
      log.info('shutting down');
      for (const { what, run } of cleanups.splice(0).reverse()) {
        await Promise.resolve()
          .then(run)
          .catch((err: Error) => log.warn({ err: err.message }, `could not stop ${what}`));
      }
      settle(exitCode);
      return exitCode;
    })());

  try {
    // Busy ports first (a one-line answer, not a stack trace after a minute), and before anything
    // that would have to be stopped again.
    if (has('api')) await assertPortFree(env.PORT, 'PORT', env.HOST);
    if (has('worker') && env.WORKER_HEALTH_PORT !== undefined)
      await assertPortFree(env.WORKER_HEALTH_PORT, 'WORKER_HEALTH_PORT', env.HOST);
    if (env.METRICS_PORT !== undefined) await assertPortFree(env.METRICS_PORT, 'METRICS_PORT', env.HOST);
    if (has('worker') && env.TEMPORAL_METRICS_PORT !== undefined)
      await assertPortFree(env.TEMPORAL_METRICS_PORT, 'TEMPORAL_METRICS_PORT', env.HOST);
    // After the port checks: the SDK's metrics exporter (TEMPORAL_METRICS_PORT) listens as soon as it is installed.
    if (has('worker'))
      installTemporalLogging(
        env.LOG_LEVEL,
        env.TEMPORAL_METRICS_PORT === undefined ? undefined : hostPort(env.HOST, env.TEMPORAL_METRICS_PORT),
      );
    if (opts.development && !env.TEMPORAL_ADDRESS) {
      await stopOrphanedDevServer(env.PARCOURS_DATA_DIR, log);
      await assertDevServerPortsFree(env);
    }
    const secrets = opts.development ? developmentSecrets(env) : productionSecrets(env, has('api'));
    if (has('api'))
      note({ adminKeyIds: secrets.apiKeys.map(keyId), writeKeyIds: secrets.writeKeys.map(keyId) }, 'API keys');

    const database = await resolveDatabase(env, log);
    started('the embedded Postgres', () => database.stop());
    const db = createPool(database.url, poolSettings(env, has('worker') ? 'worker' : 'api'));
    started('the Postgres pool', () => db.end());
    // Migrations are their own step (npm run migrate, the compose job) that npm start runs first; the API and the
    // worker alone only check the schema, and say in one line what to run when it is behind.
    if (opts.development) await migrate(database.url, { secretsKey: secrets.secretsKey });
    else await requireCurrentSchema(db);

    const temporal: TemporalHandle = opts.development
      ? await resolveTemporal(env, log)
      : { settings: temporalSettings(env), exited: never, stop: async () => undefined };
    started('the Temporal dev server', () => temporal.stop());
    // Journeys are started with ContactId/FlowId attributes: the server must know them (the dev
    // server and an explicit TEMPORAL_ADDRESS under npm start are seen to by resolveTemporal).
    if (!opts.development && has('api')) await registerSearchAttributes(temporal.settings, log);
    const connection = await connectClient(temporal.settings);
    started('the Temporal client', () => connection.close());
    // Journeys' payloads are encrypted per contact, in the client as in the worker (db/payload-codec.ts).
    const dataConverter = contactDataConverter(db);
    const client = new Client({ connection, namespace: temporal.settings.namespace, dataConverter });
    const workflows = client.workflow;
    note({ temporal: describeTemporal(temporal.settings) }, 'connected to Temporal');

    const links = { publicUrl: publicUrl(env), secret: secrets.linkSecret };
    const providers = providersFromEnv(env, links.secret);
    const deps = {
      db,
      workflows,
      log,
      apiKeys: secrets.apiKeys,
      writeKeys: secrets.writeKeys,
      rateLimits: rateLimits(env),
      trustProxy: env.TRUST_PROXY,
      links,
      webhooks: webhookSettings(env),
      // Double opt-in confirmations go through the same email provider as journeys.
      confirmations: { email: providers.email, from: providers.emailFrom, links, texts: providers.texts },
      consentEmail: env.CONSENT_EMAIL,
      texts: providers.texts,
      defaultTimezone: env.DEFAULT_TIMEZONE,
      secretsKey: secrets.secretsKey,
    };

    if (has('worker')) {
      const workerConnection = await connectWorker(temporal.settings);
      started('the worker connection', () => workerConnection.close());
      const workflowBundle = prebuiltWorkflowBundle();
      const worker = await createJourneyWorker({
        connection: workerConnection,
        namespace: temporal.settings.namespace,
        activityConcurrency: env.WORKER_ACTIVITY_CONCURRENCY,
        activities: { db, ...providers },
        log,
        ...(workflowBundle ? { workflowBundle } : {}),
      });
      const workerDone = worker.run();
      started('the worker', () => stopWorker(worker, workerDone));
      // The SDK stops the worker itself on SIGINT/SIGTERM: the rest follows it.
      workerDone.then(
        () => void stop(0),
        (err: Error) => {
          log.error({ err }, 'worker stopped');
          void stop(1);
        },
      );
      const health =
        env.WORKER_HEALTH_PORT !== undefined
          ? await startWorkerHealthServer(
              env.WORKER_HEALTH_PORT,
              { workerState: () => worker.getState(), connection: workerConnection, db },
              env.HOST,
            )
          : undefined;
      if (health) started('the worker health server', () => closeServer(health.server));
      note(
        {
          workflows: workflowBundle ? workflowBundle.codePath : 'bundled at start',
          health: health ? `:${health.port}/health` : 'off',
        },
        'worker running',
      );
      // Date triggers: one clock for the whole deployment; starting it again only wakes it.
      started(
        'the calendar clock start',
        keepStarting('calendar clock', () => ensureCalendarClock(workflows), log),
      );
      started(
        'the maintenance schedule',
        keepStarting('maintenance schedule', () => ensureMaintenanceSchedule(client), log),
      );
    }

    // Prometheus: this process's metrics (metrics/server.ts), on a port of its own for the private network.
    if (env.METRICS_PORT !== undefined) {
      const metrics = await startMetricsServer(env.METRICS_PORT, env.HOST, db);
      started('the metrics server', () => closeServer(metrics.server));
      note({ metrics: `:${metrics.port}/metrics` }, 'metrics served');
    }

    const router = startRouterLoop(deps);
    started('the router loop', () => router.stop());

    let apiPort: number | undefined;
    if (has('api')) {
      const server = createApp(deps).listen(env.PORT, env.HOST);
      // A contact import's upload is one request: a million rows take minutes, past Node's 5-minute default.
      server.requestTimeout = IMPORT_REQUEST_TIMEOUT_MS;
      await listening(server, env);
      started('the API server', () => closeServer(server));
      apiPort = (server.address() as AddressInfo).port;
      note({ url: reachableAt(env.HOST, apiPort) }, 'API listening');
    }

    if (opts.development) {
      // Without its Temporal server the stack only answers "deferred": stop, say why, exit 1 (a
      // supervisor restarts it). Ctrl-C reaches the dev server too, so a signal death waits a moment
      // for our own signal handler to claim the shutdown.
      void temporal.exited.then(async (exit) => {
        if (exit.signal === 'SIGINT' || exit.signal === 'SIGTERM') await new Promise((r) => setTimeout(r, 500));
        if (stopping) return;
        process.stderr.write(`parcours: ${exit.message}; stopping\n`);
        void stop(1);
      });
      started(
        'the parent watch',
        watchParent(() => {
          process.stderr.write('parcours: the npm start this stack runs under is gone; stopping\n');
          void stop(1);
        }),
      );
      printSummary(env, {
        apiPort,
        uiUrl: temporal.uiUrl ?? `(external server ${temporal.settings.address})`,
        database: database.source,
        secrets,
        email: providers.email.name,
        sms: providers.sms.name,
      });
    }
    return { apiPort, stopping: stoppingBegan, stopped, stop };
  } catch (err) {
    await stop(1);
    throw err;
  }
}

/**
 * A process's whole life: starts the roles, stops on SIGINT/SIGTERM or when a part fails, exits
 * with the stop's code. A start-up failure a user can fix is one line (exitOnStartupFailure).
 */
export function runStack(opts: StackOptions): void {
  startStack(opts).then((stack) => {
    const shutdown = () => void stack.stop(0);
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
    // A part whose server is gone may never finish stopping: never hang past this.
    void stack.stopping.then((code) => setTimeout(() => process.exit(code), 20_000).unref());
    void stack.stopped.then((code) => process.exit(code));
  }, exitOnStartupFailure);
}

interface Secrets {
  apiKeys: string[];
  writeKeys: string[];
  linkSecret: string;
  /** SECRETS_KEY: sources' secrets are encrypted with it. */
  secretsKey?: Buffer;
  /** Keys made for `npm start` (printed in its summary). */
  generated: { apiKey?: string; writeKey?: string };
}

/** Without configured keys, a development pair: an admin key and a write key (for a web page). */
function developmentSecrets(env: Env): Secrets {
  const dir = env.PARCOURS_DATA_DIR;
  const configured = { api: apiKeys(env), write: writeKeys(env) };
  const apiKey = configured.api.length === 0 ? developmentSecret(dir, 'dev-api-key', 'dev_') : undefined;
  const writeKey = configured.write.length === 0 ? developmentSecret(dir, 'dev-write-key', 'dev_write_') : undefined;
  return {
    apiKeys: apiKey ? [apiKey] : configured.api,
    writeKeys: writeKey ? [writeKey] : configured.write,
    linkSecret: env.LINK_SECRET ?? developmentSecret(dir, 'link-secret', 'dev_links_'),
    secretsKey: secretsKey(env) ?? developmentKey(dir, 'secrets-key'),
    generated: { apiKey, writeKey },
  };
}

function productionSecrets(env: Env, api: boolean): Secrets {
  const keys = apiKeys(env);
  if (api && keys.length === 0)
    throw new StartupError('API_KEYS is empty: set at least one admin key (comma-separated)');
  return {
    apiKeys: keys,
    writeKeys: writeKeys(env),
    linkSecret: requiredLinkSecret(env),
    secretsKey: secretsKey(env),
    generated: {},
  };
}

async function stopWorker(worker: Worker, done: Promise<void>): Promise<void> {
  if (worker.getState() === 'RUNNING') worker.shutdown();
  await done.catch(() => undefined);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

function listening(server: Server, env: Env): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new StartupError(
              `PORT=${env.PORT}: port ${env.PORT} is already in use; stop what runs there or set PORT to a free port`,
            )
          : err,
      ),
    );
  });
}

/**
 * Starts (or wakes) the calendar clock, or creates (or updates) the maintenance Schedule, again
 * and again until it succeeds: a Temporal outage at start must not leave every date trigger, or
 * the reconciliation, dead until the next restart. Returns the stop.
 */
function keepStarting(what: string, start: () => Promise<void>, log: Logger): () => void {
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const attempt = (delayMs: number) => {
    start().then(
      () => (done = true),
      (err: Error) => {
        if (done) return;
        log.warn({ err: err.message, retryInMs: delayMs }, `${what} not started yet; retrying`);
        timer = setTimeout(() => attempt(Math.min(delayMs * 2, 60_000)), delayMs);
        timer.unref();
      },
    );
  };
  attempt(1_000);
  return () => {
    done = true;
    clearTimeout(timer);
  };
}

function printSummary(
  env: Env,
  s: {
    apiPort?: number;
    uiUrl: string;
    database: string;
    secrets: Secrets;
    email: string;
    sms: string;
  },
): void {
  const saved = (file: string) => `saved in ${env.PARCOURS_DATA_DIR}/${file}`;
  const { apiKey, writeKey } = s.secrets.generated;
  const lines = [
    'Parcours is running',
    `  API          ${reachableAt(env.HOST, s.apiPort ?? env.PORT)}   (health: /health)`,
    `  Temporal UI  ${s.uiUrl}`,
    `  Postgres     ${s.database}`,
    apiKey
      ? `  API key      ${apiKey}   (development admin key, ${saved('dev-api-key')})`
      : '  API keys     from API_KEYS',
    writeKey
      ? `  Write key    ${writeKey}   (development write key: events only, ${saved('dev-write-key')})`
      : '  Write keys   from WRITE_KEYS',
    `  Email        ${s.email}${s.email === 'outbox' ? ' (GET /v1/outbox lists what would have been sent)' : ''}`,
    `  SMS          ${s.sms}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `host:port` for a bind address (an IPv6 host in brackets). */
function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
