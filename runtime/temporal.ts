/**
 * The Temporal server to use: TEMPORAL_ADDRESS when set, else a local dev server (SQLite
 * file under the data folder, Web UI) started from the binary found by temporal-binaries.
 * Either way the project's search attributes are registered.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { JOURNEY_SEARCH_ATTRIBUTES } from '../workflows/journey-identity';
import type { Logger } from './logger';
import { temporalCli } from './temporal-binaries';

export interface TemporalHandle {
  address: string;
  namespace: string;
  /** Web UI of the dev server we started; undefined for an external server. */
  uiUrl?: string;
  stop(): Promise<void>;
}

const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

export async function resolveTemporal(
  env: { TEMPORAL_ADDRESS?: string; TEMPORAL_NAMESPACE: string; TEMPORAL_PORT: number; TEMPORAL_UI_PORT: number; PARCOURS_DATA_DIR: string },
  log: Logger,
): Promise<TemporalHandle> {
  if (env.TEMPORAL_ADDRESS) {
    const handle = { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE, stop: async () => undefined };
    await registerSearchAttributes(handle, log);
    return handle;
  }
  mkdirSync(env.PARCOURS_DATA_DIR, { recursive: true });
  const server = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: temporalCli(),
      dbFilename: path.join(env.PARCOURS_DATA_DIR, 'temporal.sqlite'),
      namespace: env.TEMPORAL_NAMESPACE,
      ip: '127.0.0.1',
      port: env.TEMPORAL_PORT,
      ui: true,
      uiPort: env.TEMPORAL_UI_PORT,
      searchAttributes: JOURNEY_SEARCH_ATTRIBUTES,
      log: { format: 'pretty', level: 'warn' },
    },
  });
  return {
    address: server.address,
    namespace: env.TEMPORAL_NAMESPACE,
    uiUrl: `http://127.0.0.1:${env.TEMPORAL_UI_PORT}`,
    stop: () => server.teardown(),
  };
}

/** Idempotent; a server that does not allow it (Temporal Cloud) is told about once in the log. */
export async function registerSearchAttributes(target: { address: string; namespace: string }, log: Logger): Promise<void> {
  const connection = await Connection.connect({ address: target.address });
  try {
    const searchAttributes = Object.fromEntries(JOURNEY_SEARCH_ATTRIBUTES.map((key) => [key.name, KEYWORD]));
    await connection.operatorService.addSearchAttributes({ namespace: target.namespace, searchAttributes });
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code !== 6 /* ALREADY_EXISTS */) {
      log.warn({ err: (err as Error).message }, 'could not register search attributes ContactId/FlowId; register them on the server');
    }
  } finally {
    await connection.close();
  }
}
