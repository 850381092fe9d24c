/**
 * `npm start`: the whole system in one process for development and trials: Postgres
 * (local or embedded), a Temporal dev server with its Web UI (unless TEMPORAL_ADDRESS is
 * set), migrations, the journey worker and the API.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { IMPORT_REQUEST_TIMEOUT_MS } from '../api/contacts/import';
import { createApp } from '../api/app';
import { startFlowStatusNotifier } from '../routing/flow-status';
import { startRouterLoop } from '../routing/router-loop';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { apiKeys, poolSettings, publicUrl, rateLimits, readEnv, webhookSettings, writeKeys } from '../runtime/env';
import { createLogger, installTemporalLogging } from '../runtime/logger';
import { resolveDatabase } from '../runtime/postgres';
import { providersFromEnv } from '../runtime/providers';
import { exitOnStartupFailure, StartupError, assertPortFree } from '../runtime/startup';
import { connectClient, connectWorker } from '../runtime/temporal';
import { assertDevServerPortsFree, resolveTemporal } from '../runtime/temporal-dev-server';
import { createJourneyWorker } from '../worker/create-worker';

/** A development secret kept under the data folder (stable across restarts). */
function developmentSecret(dataDir: string, name: string, prefix: string): string {
  const file = path.join(dataDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const key = `${prefix}${randomBytes(16).toString('hex')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

async function main(): Promise<void> {
  const env = readEnv();
  const log = createLogger(env.LOG_LEVEL);
  installTemporalLogging(env.LOG_LEVEL);
  // Before starting anything (an embedded Postgres would be left behind): a busy port is a
  // one-line answer, not a stack trace after a minute.
  await assertPortFree(env.PORT, 'PORT');
  if (!env.TEMPORAL_ADDRESS) await assertDevServerPortsFree(env);
  const database = await resolveDatabase(env, log);
  // One process runs the API and the worker: the worker's pool size covers both comfortably.
  const db = createPool(database.url, poolSettings(env, 'worker'));
  await migrate(database.url);
  const temporal = await resolveTemporal(env, log);

  const connection = await connectClient(temporal.settings);
  const workflows = new Client({ connection, namespace: temporal.settings.namespace }).workflow;
  const workerConnection = await connectWorker(temporal.settings);
  const links = {
    publicUrl: publicUrl(env),
    secret: env.LINK_SECRET ?? developmentSecret(env.PARCOURS_DATA_DIR, 'link-secret', 'dev_links_'),
  };
  const providers = providersFromEnv(env, links.secret);
  const worker = await createJourneyWorker({
    connection: workerConnection,
    namespace: temporal.settings.namespace,
    activityConcurrency: env.WORKER_ACTIVITY_CONCURRENCY,
    activities: { db, ...providers },
  });
  const workerDone = worker.run();

  // Without configured keys, a development pair: an admin key and a write key (for a web page).
  const keys = apiKeys(env);
  const generatedKey = keys.length === 0 ? developmentSecret(env.PARCOURS_DATA_DIR, 'dev-api-key', 'dev_') : undefined;
  const configuredWriteKeys = writeKeys(env);
  const generatedWriteKey =
    configuredWriteKeys.length === 0
      ? developmentSecret(env.PARCOURS_DATA_DIR, 'dev-write-key', 'dev_write_')
      : undefined;
  const deps = {
    db,
    workflows,
    log,
    apiKeys: generatedKey ? [generatedKey] : keys,
    writeKeys: generatedWriteKey ? [generatedWriteKey] : configuredWriteKeys,
    rateLimits: rateLimits(env),
    links,
    webhooks: webhookSettings(env),
    confirmations: { email: providers.email, from: providers.emailFrom, links },
    consentEmail: env.CONSENT_EMAIL,
  };
  const router = startRouterLoop(deps);
  // Status changes a crashed or failed pass left unfinished reach their journeys from here.
  const stopNotifier = startFlowStatusNotifier(deps);
  const server = createApp(deps).listen(env.PORT, '0.0.0.0');
  // A contact import's upload is one request: a million rows take minutes, past Node's 5-minute default.
  server.requestTimeout = IMPORT_REQUEST_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
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

  const lines = [
    'Parcours is running',
    `  API          http://127.0.0.1:${env.PORT}   (health: /health)`,
    `  Temporal UI  ${temporal.uiUrl ?? `(external server ${temporal.settings.address})`}`,
    `  Postgres     ${database.source}`,
    generatedKey
      ? `  API key      ${generatedKey}   (development admin key, saved in ${path.join(env.PARCOURS_DATA_DIR, 'dev-api-key')})`
      : '  API keys     from API_KEYS',
    generatedWriteKey
      ? `  Write key    ${generatedWriteKey}   (development write key: events only, saved in ${path.join(env.PARCOURS_DATA_DIR, 'dev-write-key')})`
      : '  Write keys   from WRITE_KEYS',
    `  Email        ${providers.email.name}${providers.email.name === 'outbox' ? ' (GET /v1/outbox lists what would have been sent)' : ''}`,
    `  SMS          ${providers.sms.name}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const shutdown = async (exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down');
    // A worker whose server is gone may not finish its shutdown: never hang here.
    setTimeout(() => process.exit(exitCode), 20_000).unref();
    stopNotifier();
    await router.stop();
    await new Promise((resolve) => server.close(resolve));
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await workerDone.catch(() => undefined);
    await connection.close();
    await workerConnection.close();
    await temporal.stop();
    await db.end();
    await database.stop();
    process.exit(exitCode);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
  workerDone.catch((err) => {
    log.error({ err }, 'worker stopped');
    void shutdown(1);
  });
  // Without its Temporal server the stack only answers "deferred": stop, say why, exit 1 (a
  // supervisor restarts it). Ctrl-C reaches the dev server too, so a signal death waits a moment
  // for our own signal handler to claim the shutdown.
  void temporal.exited.then(async (exit) => {
    if (exit.signal === 'SIGINT' || exit.signal === 'SIGTERM') await new Promise((resolve) => setTimeout(resolve, 500));
    if (stopping) return;
    process.stderr.write(`parcours: ${exit.message}; stopping\n`);
    void shutdown(1);
  });
}

main().catch(exitOnStartupFailure);
