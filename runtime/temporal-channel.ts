/**
 * gRPC channel arguments of the client connection (API and router): after an outage gRPC
 * retries connecting with a backoff that by default grows to 2 minutes, so the API kept
 * answering "deferred" for 26 s to 114 s after Temporal was back. Capped here at 2 s: the
 * router's probes then find the server within seconds. (Spread into every client
 * `Connection.connect`/`Connection.lazy` options as `channelArgs`.)
 */
export const CLIENT_CHANNEL_ARGS = {
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 2_000,
} as const;
