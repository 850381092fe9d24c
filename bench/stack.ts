/**
 * The servers every part of the benchmark runs against, once per run: a real Temporal dev
 * server (in-memory SQLite, no UI) on a free port, a fresh migrated Postgres database, and
 * the API (stack/compose.ts, the `api` role) listening on 127.0.0.1 over real HTTP.
 */
import { createServer, type AddressInfo } from 'node:net';
import { contactDataConverter } from '../db/payload-codec';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { readEnv } from '../runtime/env';
import { createLogger } from '../runtime/logger';
import { temporalCli } from '../runtime/temporal-binaries';
import { startStack as startApi } from '../stack/compose';
import { createTestDatabase, type TestDatabase } from '../test/helpers/database';
import { JOURNEY_SEARCH_ATTRIBUTES } from '../runtime/journey-identity';
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
      client: { dataConverter: contactDataConverter(database.db) },
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
    // The API role of the one composition root, as `npm run api` runs it (the router loop and the
    // flow status notifier included), without rate limits: the benchmark measures the system.
    const api = await startApi({
      roles: ['api'],
      log: createLogger('silent'),
      env: readEnv({
        DATABASE_URL: database.url,
        TEMPORAL_ADDRESS: env.address,
        HOST: '127.0.0.1',
        PORT: '0',
        API_KEYS: API_KEY,
        LINK_SECRET: 'bench-link-secret-0000',
        PUBLIC_URL: 'http://127.0.0.1',
        RATE_LIMIT_WRITE_PER_SECOND: '0',
        RATE_LIMIT_ADMIN_PER_SECOND: '0',
      }),
    });
    cleanups.push(async () => void (await api.stop()));
    const port = api.apiPort!;
    return { env, database, api: new ApiClient(`http://127.0.0.1:${port}`, API_KEY), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
