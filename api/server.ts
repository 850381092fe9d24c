/** `npm run api`: the HTTP API alone (deployments run it next to `npm run worker`). */
import { Client } from '@temporalio/client';
import { requireCurrentSchema } from '../db/migrate';
import { createPool } from '../db/pool';
import {
  apiKeys,
  poolSettings,
  publicUrl,
  rateLimits,
  readEnv,
  requiredLinkSecret,
  webhookSettings,
  writeKeys,
} from '../runtime/env';
import { createLogger } from '../runtime/logger';
import { providersFromEnv } from '../runtime/providers';
import { resolveDatabase } from '../runtime/postgres';
import { exitOnStartupFailure } from '../runtime/startup';
import { connectClient, describeTemporal, registerSearchAttributes, temporalSettings } from '../runtime/temporal';
import { createApp } from './app';
import { IMPORT_REQUEST_TIMEOUT_MS } from './contacts/import';
import { keyId } from './middleware/auth';
import { startFlowStatusNotifier } from '../routing/flow-status';
import { startRouterLoop } from '../routing/router-loop';

async function main(): Promise<void> {
  const env = readEnv();
  const log = createLogger(env.LOG_LEVEL, 'parcours-api');
  const keys = apiKeys(env);
  if (keys.length === 0) throw new Error('API_KEYS is empty: set at least one admin key (comma-separated)');
  // The ids request log lines carry, so an operator can tell which configured key made a request.
  log.info({ adminKeyIds: keys.map(keyId), writeKeyIds: writeKeys(env).map(keyId) }, 'API keys');
  const database = await resolveDatabase(env, log);
  const db = createPool(database.url, poolSettings(env, 'api'));
  // Migrations are their own step (npm run migrate, the compose job); a schema behind the code is one line.
  await requireCurrentSchema(db);
  // Address, namespace, TLS and API key from the environment (runtime/temporal.ts).
  const temporal = temporalSettings(env);
  // Journeys are started with ContactId/FlowId attributes: the server must know them.
  await registerSearchAttributes(temporal, log);
  const connection = await connectClient(temporal);
  log.info({ temporal: describeTemporal(temporal) }, 'connected to Temporal');
  const workflows = new Client({ connection, namespace: temporal.namespace }).workflow;
  const links = { publicUrl: publicUrl(env), secret: requiredLinkSecret(env) };
  const providers = providersFromEnv(env, links.secret);
  const deps = {
    db,
    workflows,
    log,
    apiKeys: keys,
    writeKeys: writeKeys(env),
    rateLimits: rateLimits(env),
    links,
    webhooks: webhookSettings(env),
    // Double opt-in confirmations go through the same email provider as journeys (SendGrid or the outbox).
    confirmations: { email: providers.email, from: providers.emailFrom, links },
    consentEmail: env.CONSENT_EMAIL,
  };
  // Status changes a crashed or failed pass left unfinished reach their journeys from here.
  const stopNotifier = startFlowStatusNotifier(deps);
  // Routes what requests did not, and profile changes made by steps (also run by workers).
  const router = startRouterLoop(deps);
  const server = createApp(deps).listen(env.PORT, () => log.info({ port: env.PORT }, 'API listening'));
  // A contact import's upload is one request: a million rows take minutes, past Node's 5-minute default.
  server.requestTimeout = IMPORT_REQUEST_TIMEOUT_MS;

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

main().catch(exitOnStartupFailure);
