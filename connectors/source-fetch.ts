/**
 * Fetching the resource a webhook only links to (Eventbrite's `api_url`), with the source's
 * bearer token. The URL comes from the payload, so it must lie under the configured prefix;
 * redirects are refused (they could leave it); time and size are bounded.
 */
import { parseExactJson } from './exact-json';
import type { SourceFetch } from './source-config';

export class SourceFetchError extends Error {}

/** True when `url` is an absolute URL under `prefix` (same scheme, host and port, path below it). */
export function isUnderPrefix(url: string, prefix: string): boolean {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return false;
  }
  const base = new URL(prefix);
  return (
    target.origin === base.origin && target.pathname.startsWith(base.pathname) && !target.username && !target.password
  );
}

export async function fetchLinkedDocument(url: string, config: SourceFetch): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: {
        accept: 'application/json',
        ...(config.bearerToken ? { authorization: `Bearer ${config.bearerToken}` } : {}),
      },
      redirect: 'error',
      signal: AbortSignal.timeout(config.timeoutMs),
    });
  } catch (err) {
    throw new SourceFetchError(`GET ${url} failed: ${failure(err, config.timeoutMs)}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new SourceFetchError(`GET ${url} answered ${response.status}`);
  }
  const text = await readLimited(response, config.maxBytes, url, config.timeoutMs);
  try {
    return parseExactJson(text);
  } catch {
    throw new SourceFetchError(`GET ${url} did not answer JSON`);
  }
}

async function readLimited(response: Response, maxBytes: number, url: string, timeoutMs: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new SourceFetchError(`GET ${url} answered ${declared} bytes, more than the ${maxBytes} allowed`);
  }
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      // A server may omit or lie about Content-Length: count what actually arrives.
      if (size > maxBytes) {
        await reader.cancel();
        throw new SourceFetchError(`GET ${url} answered more than the ${maxBytes} bytes allowed`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof SourceFetchError) throw err;
    throw new SourceFetchError(`GET ${url} failed while reading: ${failure(err, timeoutMs)}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// The abort is a DOMException named TimeoutError (not always an Error of this realm): go by its name.
function failure(err: unknown, timeoutMs: number): string {
  const name = err !== null && typeof err === 'object' && 'name' in err ? err.name : undefined;
  if (name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const cause = err !== null && typeof err === 'object' && 'cause' in err ? err.cause : undefined;
  return cause ? `${String(err)} (${String(cause)})` : String(err);
}
