/**
 * Once per `jest` run: make sure the Temporal binaries are installed (so test files never
 * race each other installing them), that Postgres answers, and bundle the workflows once (every file's worker
 * loads that bundle instead of running webpack again: seconds of CPU per file).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import pg from 'pg';
import { temporalCli, temporalTestServer } from '../../runtime/temporal-binaries';
import { serverUrl } from './database';
import { SHARED_BUNDLE_VARIABLE } from './shared-bundle';

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
  const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows') });
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'parcours-jest-')), 'workflow-bundle.js');
  writeFileSync(file, bundle.code);
  // Test files run in this process (--runInBand) or in workers started after this: both see the variable.
  process.env[SHARED_BUNDLE_VARIABLE] = file;
}
