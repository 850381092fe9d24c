import { DefaultLogger, Runtime } from '@temporalio/worker';
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level = 'info', name = 'parcours'): Logger {
  return pino({ name, level });
}

/**
 * The Temporal SDK logs through its Runtime: route it at the same level as ours, so
 * `npm start` is not drowned in bundler output. Call before creating any worker.
 * `metricsBindAddress` (`host:port`, TEMPORAL_METRICS_PORT): the SDK's own Prometheus exporter
 * (temporal_* metrics: task slots, polls, activity and workflow task latencies) serves /metrics there.
 */
export function installTemporalLogging(level: string, metricsBindAddress?: string): void {
  const sdkLevel =
    (
      {
        trace: 'TRACE',
        debug: 'DEBUG',
        info: 'WARN',
        warn: 'WARN',
        error: 'ERROR',
        fatal: 'ERROR',
        silent: 'ERROR',
      } as const
    )[level] ?? 'WARN';
  Runtime.install({
    logger: new DefaultLogger(sdkLevel),
    ...(metricsBindAddress
      ? {
          telemetryOptions: {
            // The names Prometheus conventions expect (counters end in _total, durations say their unit).
            metrics: { prometheus: { bindAddress: metricsBindAddress, countersTotalSuffix: true, unitSuffix: true } },
          },
        }
      : {}),
  });
}
