/**
 * Once per `jest` run: make sure the Temporal binaries are installed (so test files never
 * race each other installing them) and that Postgres answers.
 */
import pg from 'pg';
import { temporalCli, temporalTestServer } from '../../runtime/temporal-binaries';
import { serverUrl } from './database';

export default async function globalSetup(): Promise<void> {
  temporalCli();
  temporalTestServer();
  const client = new pg.Client({ connectionString: `${serverUrl()}/postgres`, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`tests need a real Postgres at ${serverUrl()} (set DATABASE_URL): ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
