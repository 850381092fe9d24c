/**
 * How a Temporal call failed, for the router, in one place:
 * - `outage`: Temporal cannot be used right now, whatever the request (unreachable, a deadline,
 *   rate limited, PERMISSION_DENIED or an expired API key, an unknown namespace). The event is
 *   routed again later, the breaker opens, and the attempt does not count against the event.
 * - `gone`: the journey has ended (a signal found no workflow); nothing to retry.
 * - `refused`: Temporal refuses this very request and always will (INVALID_ARGUMENT such as
 *   "WorkflowId exceeds maximum allowed length", "exceeded workflow execution limit for signal
 *   events"): recorded with Temporal's own message and dead-lettered at once.
 * - `other`: anything else (a bug, a race that should pass): retried, within the event's budget.
 */
import { isGrpcServiceError, NamespaceNotFoundError, ServiceError, WorkflowNotFoundError } from '@temporalio/client';

export type TemporalFailure = 'outage' | 'gone' | 'refused' | 'other';

// gRPC status codes.
const CANCELLED = 1;
const INVALID_ARGUMENT = 3;
const DEADLINE_EXCEEDED = 4;
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const RESOURCE_EXHAUSTED = 8;
const FAILED_PRECONDITION = 9;
const OUT_OF_RANGE = 11;
const UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;
/** Codes that say nothing about the request: the server, the network or our credentials. */
const OUTAGE_CODES = new Set([
  CANCELLED,
  DEADLINE_EXCEEDED,
  PERMISSION_DENIED,
  RESOURCE_EXHAUSTED,
  UNAVAILABLE,
  UNAUTHENTICATED,
]);
const REFUSED_CODES = new Set([INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE, NOT_FOUND]);

/** Thrown inside a routing pass to leave the event for a later pass (the work is safe to redo). */
export class RoutingDeferred extends Error {
  override name = 'RoutingDeferred';
}

export function grpcCode(err: unknown): number | undefined {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e)) return e.code;
  }
  return undefined;
}

export function classifyTemporalError(err: unknown): TemporalFailure {
  if (err instanceof NamespaceNotFoundError) return 'outage';
  // A server without the namespace's error details answers a plain NOT_FOUND, which the client
  // turns into WorkflowNotFoundError: still the namespace, not the journey.
  // ("Namespace x is not found."; a missing workflow's message names its namespace too).
  if (err instanceof WorkflowNotFoundError) return /^namespace \S+ is not found/i.test(err.message) ? 'outage' : 'gone';
  const code = grpcCode(err);
  if (code !== undefined) {
    if (OUTAGE_CODES.has(code)) return 'outage';
    if (REFUSED_CODES.has(code)) return 'refused';
    return 'other';
  }
  // A client error without a gRPC status: the connection itself failed.
  return err instanceof ServiceError ? 'outage' : 'other';
}

/** An outage of access (our key, our namespace), where Temporal itself answers. */
export function isAccessFailure(err: unknown): boolean {
  if (err instanceof NamespaceNotFoundError || err instanceof WorkflowNotFoundError) return true;
  const code = grpcCode(err);
  return code === PERMISSION_DENIED || code === UNAUTHENTICATED;
}

/** Temporal cannot be used now (down, unreachable, too slow, our credentials): worth opening the breaker for. */
export function isTemporalUnavailable(err: unknown): boolean {
  return classifyTemporalError(err) === 'outage';
}

/** Temporal's own words for a failure (the gRPC details when the client wrapped them). */
export function temporalMessage(err: unknown): string {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e)) return e.details || e.message;
  }
  return err instanceof Error ? err.message : String(err);
}
