/** `npm run worker` (or `node dist/worker/main.js`): the journey worker alone, next to the API. */
import { Client } from '@temporalio/client';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { readEnv, requiredLinkSecret } from '../runtime/env';
import { createLogger, installTemporalLogging } from '../runtime/logger';
import { resolveDatabase } from '../runtime/postgres';
import { providersFromEnv } from '../runtime/providers';
import { assertPortFree, exitOnStartupFailure } from '../runtime/startup';
import { connectClient, connectWorker, describeTemporal, temporalSettings } from '../runtime/temporal';
import { createJourneyWorker, prebuiltWorkflowBundle } from './create-worker';
import { startWorkerHealthServer } from './health';

async function main(): Promise<void> {
  const env = readEnv();
  const log = createLogger(env.LOG_LEVEL, 'parcours-worker');
  installTemporalLogging(env.LOG_LEVEL);
  const linkSecret = requiredLinkSecret(env);
  if (env.WORKER_HEALTH_PORT !== undefined) await assertPortFree(env.WORKER_HEALTH_PORT, 'WORKER_HEALTH_PORT');
  const database = await resolveDatabase(env, log);
  const db = createPool(database.url);
  await migrate(db);
  // Address, namespace, TLS and API key from the environment (runtime/temporal.ts).
  const temporal = temporalSettings(env);
  const connection = await connectWorker(temporal);
  // update_profile steps may start profile-triggered journeys: they need a client.
  const clientConnection = await connectClient(temporal);
  const workflows = new Client({ connection: clientConnection, namespace: temporal.namespace }).workflow;
  const workflowBundle = prebuiltWorkflowBundle();
  const worker = await createJourneyWorker({
    connection,
    namespace: temporal.namespace,
    activities: { db, ...providersFromEnv(env, linkSecret), routing: { db, workflows } },
    ...(workflowBundle ? { workflowBundle } : {}),
  });
  const health =
    env.WORKER_HEALTH_PORT !== undefined
      ? await startWorkerHealthServer(env.WORKER_HEALTH_PORT, { workerState: () => worker.getState(), connection, db })
      : undefined;
  log.info(
    { temporal: describeTemporal(temporal), workflows: workflowBundle ? workflowBundle.codePath : 'bundled at start', health: health ? `:${health.port}/health` : 'off' },
    'worker running',
  );
  await worker.run(); // returns after SIGINT/SIGTERM, which the SDK handles
  health?.server.close();
  await connection.close();
  await clientConnection.close();
  await db.end();
  await database.stop();
}

main().catch(exitOnStartupFailure);
