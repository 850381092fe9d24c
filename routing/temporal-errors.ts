/**
 * How a Temporal call failed, for the router: a failure that will pass (Temporal unreachable,
 * a deadline) leaves the event to be routed again; one that will not (the journey is gone, or
 * refuses: "exceeded workflow execution limit for signal events") is recorded and skipped, so
 * one journey never blocks an event from reaching the others.
 */
import { isGrpcServiceError, ServiceError, WorkflowNotFoundError } from '@temporalio/client';

// gRPC status codes that mean "this request will never succeed as it is".
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const FAILED_PRECONDITION = 9;
const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;
const PERMANENT_CODES = new Set([INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION]);

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

export function isPermanentTemporalError(err: unknown): boolean {
  if (err instanceof WorkflowNotFoundError) return true;
  const code = grpcCode(err);
  return code !== undefined && PERMANENT_CODES.has(code);
}

/** Temporal did not answer (down, unreachable, too slow): worth opening the breaker for. */
export function isTemporalUnavailable(err: unknown): boolean {
  const code = grpcCode(err);
  if (code !== undefined) return code === UNAVAILABLE || code === DEADLINE_EXCEEDED;
  return err instanceof ServiceError;
}
