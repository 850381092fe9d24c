/** `npm run worker` (or `node dist/worker/main.js`): the journey worker alone, next to the API. */
import { Client } from '@temporalio/client';
import { requireCurrentSchema } from '../db/migrate';
import { createPool } from '../db/pool';
import { poolSettings, readEnv, requiredLinkSecret } from '../runtime/env';
import { createLogger, installTemporalLogging } from '../runtime/logger';
import { resolveDatabase } from '../runtime/postgres';
import { providersFromEnv } from '../runtime/providers';
import { startRouterLoop } from '../routing/router-loop';
import { assertPortFree, exitOnStartupFailure } from '../runtime/startup';
import { connectClient, connectWorker, describeTemporal, temporalSettings } from '../runtime/temporal';
import { ensureCalendarClock } from './calendar-clock';
import { createJourneyWorker, prebuiltWorkflowBundle } from './create-worker';
import { startWorkerHealthServer } from './health';

async function main(): Promise<void> {
  const env = readEnv();
  const log = createLogger(env.LOG_LEVEL, 'parcours-worker');
  installTemporalLogging(env.LOG_LEVEL);
  const linkSecret = requiredLinkSecret(env);
  if (env.WORKER_HEALTH_PORT !== undefined) await assertPortFree(env.WORKER_HEALTH_PORT, 'WORKER_HEALTH_PORT');
  const database = await resolveDatabase(env, log);
  const db = createPool(database.url, poolSettings(env, 'worker'));
  // Migrations are their own step (npm run migrate, the compose job); a schema behind the code is one line.
  await requireCurrentSchema(db);
  // Address, namespace, TLS and API key from the environment (runtime/temporal.ts).
  const temporal = temporalSettings(env);
  const connection = await connectWorker(temporal);
  // The router loop runs here too (claims make that safe): profile changes stored by
  // update_profile steps enter profile-triggered flows even when no API process runs.
  const clientConnection = await connectClient(temporal);
  const workflows = new Client({ connection: clientConnection, namespace: temporal.namespace }).workflow;
  const workflowBundle = prebuiltWorkflowBundle();
  const worker = await createJourneyWorker({
    connection,
    namespace: temporal.namespace,
    activityConcurrency: env.WORKER_ACTIVITY_CONCURRENCY,
    activities: { db, ...providersFromEnv(env, linkSecret) },
    ...(workflowBundle ? { workflowBundle } : {}),
  });
  const health =
    env.WORKER_HEALTH_PORT !== undefined
      ? await startWorkerHealthServer(env.WORKER_HEALTH_PORT, { workerState: () => worker.getState(), connection, db })
      : undefined;
  log.info(
    {
      temporal: describeTemporal(temporal),
      workflows: workflowBundle ? workflowBundle.codePath : 'bundled at start',
      health: health ? `:${health.port}/health` : 'off',
    },
    'worker running',
  );
  const router = startRouterLoop({ db, workflows, log });
  // Date triggers: one clock for the whole deployment; starting it again only wakes it.
  await ensureCalendarClock(workflows).catch((err: Error) =>
    log.warn({ err: err.message }, 'calendar clock not started; date triggers wait for the next worker start'),
  );
  await worker.run(); // returns after SIGINT/SIGTERM, which the SDK handles
  await router.stop();
  health?.server.close();
  await connection.close();
  await clientConnection.close();
  await db.end();
  await database.stop();
}

main().catch(exitOnStartupFailure);
