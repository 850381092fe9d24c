/** `npm run api`: the HTTP API alone (deployments run it next to `npm run worker`). */
import { Client, Connection } from '@temporalio/client';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { apiKeys, poolSettings, publicUrl, readEnv, requiredLinkSecret, webhookSettings } from '../runtime/env';
import { createLogger } from '../runtime/logger';
import { resolveDatabase } from '../runtime/postgres';
import { registerSearchAttributes } from '../runtime/temporal';
import { CLIENT_CHANNEL_ARGS } from '../runtime/temporal-channel';
import { createApp } from './app';
import { startFlowStatusNotifier } from '../routing/flow-status';
import { startRouterLoop } from '../routing/router-loop';

async function main(): Promise<void> {
  const env = readEnv();
  const log = createLogger(env.LOG_LEVEL, 'parcours-api');
  const keys = apiKeys(env);
  if (keys.length === 0) throw new Error('API_KEYS is empty: set at least one key (comma-separated)');
  const database = await resolveDatabase(env, log);
  const db = createPool(database.url, poolSettings(env, 'api'));
  await migrate(db);
  const address = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  // Journeys are started with ContactId/FlowId attributes: the server must know them.
  await registerSearchAttributes({ address, namespace: env.TEMPORAL_NAMESPACE }, log);
  const connection = await Connection.connect({ address, channelArgs: CLIENT_CHANNEL_ARGS });
  const workflows = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE }).workflow;
  const deps = { db, workflows, log, apiKeys: keys, links: { publicUrl: publicUrl(env), secret: requiredLinkSecret(env) }, webhooks: webhookSettings(env) };
  // Status changes a crashed or failed pass left unfinished reach their journeys from here.
  const stopNotifier = startFlowStatusNotifier(deps);
  // Routes what requests did not, and profile changes made by steps (also run by workers).
  const router = startRouterLoop(deps);
  const server = createApp(deps).listen(env.PORT, () => log.info({ port: env.PORT }, 'API listening'));

  const shutdown = () => {
    log.info('shutting down');
    stopNotifier();
    server.close(async () => {
      await router.stop();
      await connection.close();
      await db.end();
      await database.stop();
      process.exit(0);
    });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
