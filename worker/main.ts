/** `npm run worker`: the journey worker alone (deployments run it next to `npm run api`). */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { poolSettings, readEnv, requiredLinkSecret } from '../runtime/env';
import { createLogger, installTemporalLogging } from '../runtime/logger';
import { resolveDatabase } from '../runtime/postgres';
import { providersFromEnv } from '../runtime/providers';
import { startRouterLoop } from '../routing/router-loop';
import { CLIENT_CHANNEL_ARGS } from '../runtime/temporal-channel';
import { createJourneyWorker } from './create-worker';

async function main(): Promise<void> {
  const env = readEnv();
  const log = createLogger(env.LOG_LEVEL, 'parcours-worker');
  installTemporalLogging(env.LOG_LEVEL);
  const database = await resolveDatabase(env, log);
  const db = createPool(database.url, poolSettings(env, 'worker'));
  await migrate(db);
  const address = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const connection = await NativeConnection.connect({ address });
  // The router loop runs here too (claims make that safe): profile changes stored by
  // update_profile steps enter profile-triggered flows even when no API process runs.
  const clientConnection = await Connection.connect({ address, channelArgs: CLIENT_CHANNEL_ARGS });
  const workflows = new Client({ connection: clientConnection, namespace: env.TEMPORAL_NAMESPACE }).workflow;
  const worker = await createJourneyWorker({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    activityConcurrency: env.WORKER_ACTIVITY_CONCURRENCY,
    activities: { db, ...providersFromEnv(env, requiredLinkSecret(env)) },
  });
  log.info({ temporal: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' }, 'worker running');
  const router = startRouterLoop({ db, workflows, log });
  await worker.run(); // returns after SIGINT/SIGTERM, which the SDK handles
  await router.stop();
  await connection.close();
  await clientConnection.close();
  await db.end();
  await database.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
