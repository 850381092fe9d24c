/**
 * The servers every part of the benchmark runs against, once per run: a real Temporal dev
 * server (in-memory SQLite, no UI) on a free port, a fresh migrated Postgres database, and
 * the API app listening on 127.0.0.1 over real HTTP.
 */
import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../api/app';
import { startRouterLoop } from '../routing/router-loop';
import { createLogger } from '../runtime/logger';
import { temporalCli } from '../runtime/temporal-binaries';
import { createTestDatabase, type TestDatabase } from '../test/helpers/database';
import { JOURNEY_SEARCH_ATTRIBUTES } from '../workflows/journey-identity';
import { ApiClient } from './http';

const API_KEY = 'bench-key';

export interface Stack {
  env: TestWorkflowEnvironment;
  database: TestDatabase;
  api: ApiClient;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => server.once('error', reject).once('listening', resolve));
  return (server.address() as AddressInfo).port;
}

export async function startStack(): Promise<Stack> {
  const cleanups: (() => Promise<void>)[] = [];
  // Once only, last started first; a failing step does not keep the others from running.
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      for (const cleanup of [...cleanups].reverse())
        await cleanup().catch((err: Error) => process.stderr.write(`cleanup: ${err.message}\n`));
    })());
  try {
    // The database first, so it is dropped last: the dev server is never left running behind.
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: temporalCli(),
        ip: '127.0.0.1',
        port: await freePort(),
        ui: false,
        searchAttributes: JOURNEY_SEARCH_ATTRIBUTES,
        log: { format: 'pretty', level: 'error' },
        // no dbFilename: the dev server keeps its SQLite database in memory
      },
    });
    cleanups.push(() => env.teardown());
    const log = createLogger('silent');
    // As in `npm run api`: routes what requests left deferred, and profile changes made by steps.
    const router = startRouterLoop({ db: database.db, workflows: env.client.workflow, log });
    cleanups.push(() => router.stop());
    const app = createApp({
      db: database.db,
      workflows: env.client.workflow,
      log,
      apiKeys: [API_KEY],
      links: { publicUrl: 'http://127.0.0.1', secret: 'bench-link-secret-0000' },
      webhooks: { publicUrl: 'http://127.0.0.1' },
    });
    const server = app.listen(0, '127.0.0.1');
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const port = await listen(server);
    return { env, database, api: new ApiClient(`http://127.0.0.1:${port}`, API_KEY), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
