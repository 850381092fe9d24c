/**
 * Segment-compatible ingestion: every call type at /v1/<type> and at analytics.js's short
 * paths, and /v1/batch. Mount behind ingestionCors() and ingestionBody() (api/middleware):
 * bodies arrive parsed, with exact ids, whatever their content type or encoding.
 */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { WriteKeyRequest } from '../../audiences/consent-policy';
import { errorBody, HttpError } from '../errors';
import { parseOr400 } from '../validate';
import { ingestBatch, ingestCall, type IngestDeps, type ItemOutcome } from './ingest';
import { BATCH_PATHS, CALL_TYPES, SHORT_PATHS, type CallType } from './paths';
import { batchEnvelope } from './schemas';

/**
 * An accepted call or batch is answered as Segment's API answers: 200 with `"success": true`,
 * our own fields beside it. Segment's 1.x Python library and RudderStack's Python SDK take any
 * other status for a failure (and retry the batch for minutes, though it was stored).
 */
const ACCEPTED = 200;

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

export function eventsRouter(deps: IngestDeps): Router {
  const router = Router();

  const single =
    (type: CallType): RequestHandler =>
    async (req, res) => {
      const receivedAt = Date.now();
      res.status(ACCEPTED).json({
        success: true,
        ...(await ingestCall(deps, req.body, type, { receivedAt, ...fromWriteKey(req, res) })),
      });
    };
  for (const type of CALL_TYPES) router.post(`/${type}`, single(type));
  for (const [short, type] of Object.entries(SHORT_PATHS)) router.post(`/${short}`, single(type));

  // Items are validated one by one (a bad item is reported with its index, the others are
  // stored), then stored together in one transaction and answered once durable: 200 with each
  // item's outcome. Only a batch of which nothing is valid is a 400.
  router.post([...BATCH_PATHS], async (req, res) => {
    const receivedAt = Date.now();
    const body: unknown = req.body;
    const envelopeFields = isObject(body)
      ? Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null))
      : body;
    const items =
      isObject(envelopeFields) && Array.isArray(envelopeFields.batch) ? (envelopeFields.batch as unknown[]) : undefined;
    // The envelope is checked with each item replaced by a placeholder: one bad item cannot fail it.
    const envelope = parseOr400(
      batchEnvelope,
      items ? { ...(envelopeFields as object), batch: items.map(() => null) } : envelopeFields,
    );
    const outcomes = await ingestBatch(deps, items ?? [], {
      context: envelope.context,
      sentAt: envelope.sentAt,
      receivedAt,
      ...fromWriteKey(req, res),
    });
    const summary = summarize(outcomes);
    const rejected = outcomes.filter(
      (o): o is Extract<ItemOutcome, { outcome: 'rejected' }> => o.outcome === 'rejected',
    );
    for (const item of rejected)
      deps.log.warn(
        { index: item.index, messageId: item.messageId, code: item.code, issues: item.issues.slice(0, 5) },
        'batch item rejected',
      );
    deps.log.info({ ...summary, ms: Date.now() - receivedAt }, 'batch stored');
    const answer = { ...summary, results: outcomes, errors: rejected };
    if (summary.accepted > 0) return void res.status(ACCEPTED).json({ success: true, ...answer });
    const error = new HttpError(
      400,
      'invalid_request',
      'no item of the batch is valid',
      rejected.flatMap((r) => r.issues.map((i) => ({ ...i, path: ['batch', r.index, ...i.path] }))).slice(0, 100),
    );
    res.status(400).json({ ...errorBody(error), ...answer });
  });

  return router;
}

/**
 * A write key's calls carry their request (ip, user agent) as the proof of what they ask: the key proves nobody
 * (audiences/consent-policy.ts `consentFromWriteKey`).
 */
function fromWriteKey(req: Request, res: Response): { writeKey?: WriteKeyRequest } {
  if (res.locals.apiKey?.kind !== 'write') return {};
  return { writeKey: { ip: req.ip ?? null, userAgent: req.get('user-agent')?.slice(0, 1000) ?? null } };
}

function summarize(outcomes: ItemOutcome[]) {
  const count = (o: ItemOutcome['outcome']) => outcomes.filter((x) => x.outcome === o).length;
  const stored = count('stored');
  const duplicates = count('duplicate');
  // Acknowledged, not stored: a client retrying them would retry forever.
  const erased = count('erased');
  return { accepted: stored + duplicates + erased, stored, duplicates, erased, rejected: count('rejected') };
}
