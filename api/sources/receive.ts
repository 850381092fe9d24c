/**
 * POST /v1/sources/:id/events: where a generic source's platform delivers. Public, and
 * authenticated by the source's own secret (an HMAC header or a token in the URL) checked over
 * the exact raw bytes before anything is parsed. The delivery is optionally completed by
 * fetching the resource it links to, mapped onto a track call, then stored (raw payload in
 * `context.raw`) and routed through ingestTrack like any /v1/track. A retry of the same delivery
 * has the same messageId and is stored once.
 */
import express, { Router } from 'express';
import { parseExactJson } from '../../connectors/exact-json';
import { evaluateExpression, MappingError } from '../../connectors/mapping';
import { authenticateDelivery } from '../../connectors/source-auth';
import { openSecret, secretLabel, type StoredSourceFetch } from '../../connectors/source-secrets';
import { mapDelivery } from '../../connectors/source-call';
import type { SourceFetch } from '../../connectors/source-config';
import { fetchLinkedDocument, isUnderPrefix, SourceFetchError } from '../../connectors/source-fetch';
import { getSource } from '../../db/sources';
import { HttpError, notFound } from '../errors';
import { sourceSecretError } from './secret-errors';
import { ingestTrack, isErased, type IngestDeps } from '../events/ingest';
import { trackPayload } from '../events/schemas';
import { parseRequest, storablePayloadOr400 } from '../validate';

// The error handler's 413 names 500 KB for every body; form and order webhooks are a few KB.
export const MAX_SOURCE_BODY = '500kb';

export function sourceEventsRouter(deps: IngestDeps & { secretsKey?: Buffer }): Router {
  const router = Router();
  router.post('/:id/events', express.raw({ type: () => true, limit: MAX_SOURCE_BODY }), async (req, res) => {
    const source = await getSource(deps.db, req.params.id);
    if (!source) throw notFound(`source "${req.params.id}"`);
    const { config } = source;
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const token = typeof req.query.token === 'string' ? req.query.token : undefined;
    const { auth } = config;
    const hmacSecret = () =>
      openSecret(
        deps.secretsKey,
        auth.type === 'hmac' ? auth.secretSealed : undefined,
        secretLabel(source.id, 'auth.secret'),
      );
    let authentic: boolean;
    try {
      authentic = authenticateDelivery(auth, hmacSecret, rawBody, { header: (name) => req.get(name), token });
    } catch (err) {
      // Not the sender's fault: a 503 makes the platform retry once the server is configured.
      deps.log.error({ source: source.id, err: (err as Error).message }, 'source delivery not verified');
      throw sourceSecretError(err);
    }
    if (!authentic) {
      deps.log.info({ source: source.id, auth: config.auth.type }, 'source delivery refused: authentication failed');
      throw config.auth.type === 'hmac'
        ? new HttpError(401, 'invalid_signature', `the ${config.auth.header} signature does not verify`)
        : new HttpError(401, 'invalid_token', 'the token in the URL is missing or wrong');
    }
    let payload: unknown;
    try {
      payload = parseExactJson(rawBody.toString('utf8'));
    } catch {
      throw new HttpError(400, 'invalid_json', 'body is not valid JSON');
    }
    // Kept whole in context.raw: what Postgres cannot store is the sender's 400, not a 500 after mapping.
    storablePayloadOr400(payload, 'delivery');
    try {
      if (
        config.ignoreWhen !== undefined &&
        (await evaluateExpression(['ignoreWhen'], config.ignoreWhen, payload, {})) === true
      ) {
        // Acknowledged, so the platform neither retries it nor disables the webhook.
        deps.log.info({ source: source.id }, 'source delivery ignored: ignoreWhen matched');
        res.json({ source: source.id, ignored: `ignoreWhen matched: ${config.ignoreWhen}` });
        return;
      }
      const fetched = config.fetch
        ? await fetchLinked(withBearerToken(deps, source.id, config.fetch), payload)
        : undefined;
      if (fetched !== undefined) storablePayloadOr400(fetched, 'fetched document', ['fetched']);
      const call = await mapDelivery(config.mapping, { sourceId: source.id, rawBody, payload, fetched });
      const valid = parseRequest(trackPayload, call);
      // What the track schema refuses came from a mapped field: name it as the mapping's path.
      if (!valid.success)
        throw new HttpError(
          400,
          'mapping_failed',
          'the mapped event is invalid',
          valid.issues.map((i) => ({ path: ['mapping', ...i.path], message: i.message })),
        );
      const result = await ingestTrack(deps, valid.data);
      // Acknowledged, so the platform does not retry: the person asked to be forgotten.
      if (isErased(result))
        return void res.json({ source: source.id, erased: { event: valid.data.event, messageId: result.messageId } });
      res.json({
        source: source.id,
        stored: {
          event: valid.data.event,
          messageId: result.messageId,
          eventId: result.eventId,
          contactId: result.contactId,
          duplicate: result.duplicate,
          routing: result.routing,
        },
      });
    } catch (err) {
      if (err instanceof MappingError) {
        deps.log.info(
          { source: source.id, path: err.path, reason: err.message },
          'source delivery refused: mapping failed',
        );
        throw new HttpError(400, 'mapping_failed', `${err.path.join('.')}: ${err.message}`, [
          { path: err.path, message: err.message },
        ]);
      }
      if (err instanceof SourceFetchError) {
        // Nothing stored: a 502 makes the platform retry the delivery later.
        deps.log.warn({ source: source.id, reason: err.message }, 'source delivery not stored: fetch failed');
        throw new HttpError(502, 'fetch_failed', err.message);
      }
      throw err;
    }
  });
  return router;
}

/** The fetch settings with the bearer token decrypted, only when a delivery needs it. */
function withBearerToken(deps: { secretsKey?: Buffer }, sourceId: string, fetch: StoredSourceFetch): SourceFetch {
  const { bearerTokenSealed, ...rest } = fetch;
  if (bearerTokenSealed === undefined) return rest;
  try {
    return {
      ...rest,
      bearerToken: openSecret(deps.secretsKey, bearerTokenSealed, secretLabel(sourceId, 'fetch.bearerToken')),
    };
  } catch (err) {
    throw sourceSecretError(err);
  }
}

async function fetchLinked(fetch: SourceFetch, payload: unknown): Promise<unknown> {
  const url = await evaluateExpression(['fetch', 'url'], fetch.url, payload, {});
  if (typeof url !== 'string')
    throw new MappingError(
      ['fetch', 'url'],
      `${fetch.url} gave ${url === undefined ? 'nothing' : JSON.stringify(url)}, expected a URL`,
    );
  if (!isUnderPrefix(url, fetch.urlPrefix))
    throw new MappingError(['fetch', 'url'], `${url} is not under the source's urlPrefix ${fetch.urlPrefix}`);
  return fetchLinkedDocument(url, fetch);
}
