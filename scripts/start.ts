/**
 * `npm start`: the whole system in one process for development and trials: Postgres
 * (local or embedded), a Temporal dev server with its Web UI (unless TEMPORAL_ADDRESS is
 * set), migrations, the journey worker and the API.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createApp } from '../api/app';
import { startFlowStatusNotifier } from '../routing/flow-status';
import { startRouterLoop } from '../routing/router-loop';
import { CLIENT_CHANNEL_ARGS } from '../runtime/temporal-channel';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { apiKeys, poolSettings, publicUrl, readEnv, webhookSettings } from '../runtime/env';
import { createLogger, installTemporalLogging } from '../runtime/logger';
import { resolveDatabase } from '../runtime/postgres';
import { providersFromEnv } from '../runtime/providers';
import { resolveTemporal } from '../runtime/temporal';
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
  const database = await resolveDatabase(env, log);
  // One process runs the API and the worker: the worker's pool size covers both comfortably.
  const db = createPool(database.url, poolSettings(env, 'worker'));
  await migrate(db);
  const temporal = await resolveTemporal(env, log);

  const connection = await Connection.connect({ address: temporal.address, channelArgs: CLIENT_CHANNEL_ARGS });
  const workflows = new Client({ connection, namespace: temporal.namespace }).workflow;
  const workerConnection = await NativeConnection.connect({ address: temporal.address });
  const links = { publicUrl: publicUrl(env), secret: env.LINK_SECRET ?? developmentSecret(env.PARCOURS_DATA_DIR, 'link-secret', 'dev_links_') };
  const providers = providersFromEnv(env, links.secret);
  const worker = await createJourneyWorker({
    connection: workerConnection,
    namespace: temporal.namespace,
    activityConcurrency: env.WORKER_ACTIVITY_CONCURRENCY,
    activities: { db, ...providers },
  });
  const workerDone = worker.run();

  const keys = apiKeys(env);
  const generatedKey = keys.length === 0 ? developmentSecret(env.PARCOURS_DATA_DIR, 'dev-api-key', 'dev_') : undefined;
  const deps = { db, workflows, log, apiKeys: generatedKey ? [generatedKey] : keys, links, webhooks: webhookSettings(env) };
  const router = startRouterLoop(deps);
  // Status changes a crashed or failed pass left unfinished reach their journeys from here.
  const stopNotifier = startFlowStatusNotifier(deps);
  const server = createApp(deps).listen(env.PORT, '0.0.0.0');
  await new Promise<void>((resolve) => server.once('listening', resolve));

  const lines = [
    'Parcours is running',
    `  API          http://127.0.0.1:${env.PORT}   (health: /health)`,
    `  Temporal UI  ${temporal.uiUrl ?? `(external server ${temporal.address})`}`,
    `  Postgres     ${database.source}`,
    generatedKey ? `  API key      ${generatedKey}   (development key, saved in ${path.join(env.PARCOURS_DATA_DIR, 'dev-api-key')})` : '  API keys     from API_KEYS',
    `  Email        ${providers.email.name}${providers.email.name === 'outbox' ? ' (GET /v1/outbox lists what would have been sent)' : ''}`,
    `  SMS          ${providers.sms.name}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down');
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
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  workerDone.catch((err) => {
    log.error({ err }, 'worker stopped');
    void shutdown();
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
