/**
 * What a service refuses, as the client will see it: an HTTP status, a stable code and the fields at fault. Defined
 * here, below the routes, so services can refuse without importing api/; api/errors.ts turns them into JSON.
 */
import type { Issue } from '../flows/validate';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: Issue[],
  ) {
    super(message);
  }
}

export const invalid = (issues: Issue[], message = 'request is invalid') =>
  new HttpError(400, 'invalid_request', message, issues);
export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} not found`);
