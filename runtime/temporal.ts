/**
 * How every process reaches Temporal: the address, namespace, TLS (client certificate, CA,
 * server name) and API key come from the environment through Temporal's own environment
 * configuration (`@temporalio/envconfig`), so the API, the worker and `npm start` connect the
 * same way to a dev server, a self-hosted mTLS cluster or Temporal Cloud.
 */
import { CLIENT_CHANNEL_ARGS } from './temporal-channel';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { JOURNEY_SEARCH_ATTRIBUTES } from './journey-identity';
import type { Env } from './env';
import type { Logger } from './logger';
import { StartupError } from './startup';

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';

/** What both kinds of connection share; a dev server started by `npm start` is plain host:port. */
export interface TemporalSettings {
  address: string;
  namespace: string;
  tls?: NativeConnectionOptions['tls'];
  apiKey?: string;
  metadata?: NativeConnectionOptions['metadata'];
}

/** The TEMPORAL_* part of the environment that envconfig reads. */
type TemporalEnv = Pick<
  Env,
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_NAMESPACE'
  | 'TEMPORAL_API_KEY'
  | 'TEMPORAL_TLS'
  | 'TEMPORAL_TLS_CLIENT_CERT_PATH'
  | 'TEMPORAL_TLS_CLIENT_CERT_DATA'
  | 'TEMPORAL_TLS_CLIENT_KEY_PATH'
  | 'TEMPORAL_TLS_CLIENT_KEY_DATA'
  | 'TEMPORAL_TLS_SERVER_CA_CERT_PATH'
  | 'TEMPORAL_TLS_SERVER_CA_CERT_DATA'
  | 'TEMPORAL_TLS_SERVER_NAME'
  | 'TEMPORAL_CONFIG_FILE'
  | 'TEMPORAL_PROFILE'
>;

/**
 * The settings for an external server (TEMPORAL_ADDRESS, else 127.0.0.1:7233). A config file
 * is read only when TEMPORAL_CONFIG_FILE or TEMPORAL_PROFILE names one: a developer's CLI
 * profile must not silently send a deployment to another cluster.
 */
export function temporalSettings(env: TemporalEnv): TemporalSettings {
  // Only what readEnv validated reaches envconfig (not process.env): one source of truth. The
  // namespace always has a value (default `default`), so it also wins over a config file's.
  const vars: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('TEMPORAL_') && typeof value === 'string') vars[key] = value;
  }
  const fromFile = Boolean(env.TEMPORAL_CONFIG_FILE || env.TEMPORAL_PROFILE);
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: vars, disableFile: !fromFile });
  } catch (err) {
    // A certificate file or config file that cannot be read: name what was being read.
    throw new StartupError(
      `Temporal connection settings (TEMPORAL_TLS_*, TEMPORAL_CONFIG_FILE): ${(err as Error).message}`,
    );
  }
  const { connectionOptions, namespace } = loaded;
  return {
    address: connectionOptions.address ?? DEFAULT_TEMPORAL_ADDRESS,
    namespace: namespace ?? env.TEMPORAL_NAMESPACE,
    ...(connectionOptions.tls !== undefined ? { tls: connectionOptions.tls } : {}),
    ...(connectionOptions.apiKey ? { apiKey: connectionOptions.apiKey } : {}),
    ...(connectionOptions.metadata && Object.keys(connectionOptions.metadata).length
      ? { metadata: connectionOptions.metadata }
      : {}),
  };
}

/** For logs: where and how, never the key. */
export function describeTemporal(settings: TemporalSettings): string {
  const security = settings.apiKey
    ? 'TLS + API key'
    : settings.tls
      ? typeof settings.tls === 'object' && settings.tls.clientCertPair
        ? 'mTLS'
        : 'TLS'
      : 'plaintext';
  return `${settings.address} (namespace ${settings.namespace}, ${security})`;
}

/** Options of the client connection (API, routing); gRPC channel arguments belong here. */
export function clientConnectionOptions(settings: TemporalSettings): ConnectionOptions {
  return {
    address: settings.address,
    channelArgs: CLIENT_CHANNEL_ARGS,
    ...(settings.tls !== undefined ? { tls: settings.tls } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
    ...(settings.metadata ? { metadata: settings.metadata } : {}),
  };
}

export function connectClient(settings: TemporalSettings): Promise<Connection> {
  return Connection.connect(clientConnectionOptions(settings));
}

/** The worker's (Rust core) connection. */
export function connectWorker(settings: TemporalSettings): Promise<NativeConnection> {
  return NativeConnection.connect({
    address: settings.address,
    ...(settings.tls !== undefined ? { tls: settings.tls } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
    ...(settings.metadata ? { metadata: settings.metadata } : {}),
  });
}

const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

/** Idempotent; a server that does not allow it (Temporal Cloud) is told about once in the log. */
export async function registerSearchAttributes(settings: TemporalSettings, log: Logger): Promise<void> {
  const connection = await connectClient(settings);
  try {
    const searchAttributes = Object.fromEntries(JOURNEY_SEARCH_ATTRIBUTES.map((key) => [key.name, KEYWORD]));
    await connection.operatorService.addSearchAttributes({ namespace: settings.namespace, searchAttributes });
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code !== 6 /* ALREADY_EXISTS */) {
      log.warn(
        { err: (err as Error).message },
        'could not register search attributes ContactId/FlowId; register them on the server',
      );
    }
  } finally {
    await connection.close();
  }
}
