/** Segment-compatible ingestion: /v1/track, /v1/identify, /v1/batch. */
import { Router } from 'express';
import type { z } from 'zod';
import type { Issue } from '../../flows/validate';
import { HttpError, toHttpError } from '../errors';
import { parseOr400, parseRequest } from '../validate';
import { ingestIdentify, ingestTrack, type IngestDeps, type IngestResult } from './ingest';
import { batchEnvelope, identifyPayload, MAX_EVENT_BYTES, trackPayload } from './schemas';

const tooLarge = (item: unknown) => Buffer.byteLength(JSON.stringify(item)) > MAX_EVENT_BYTES;

function checkSize(item: unknown): void {
  if (tooLarge(item)) throw new HttpError(400, 'event_too_large', 'an event may be at most 32 KB');
}

const UNAVAILABLE = toHttpError(Object.assign(new Error('database unavailable'), { code: 'ECONNREFUSED' }))!;

interface ItemError {
  index: number;
  code: string;
  message?: string;
  issues: Issue[];
}

export function eventsRouter(deps: IngestDeps): Router {
  const router = Router();

  router.post('/track', async (req, res) => {
    const payload = parseOr400(trackPayload, req.body);
    checkSize(req.body);
    res.status(202).json(await ingestTrack(deps, payload));
  });

  router.post('/identify', async (req, res) => {
    const payload = parseOr400(identifyPayload, req.body);
    checkSize(req.body);
    res.status(202).json(await ingestIdentify(deps, payload));
  });

  // Items are handled in order (a contact's checkout before its order). Each item succeeds or
  // fails alone: invalid, too large, or refused by the database, it is reported with its index
  // and the items after it are still stored.
  router.post('/batch', async (req, res) => {
    // The envelope is checked here with each item replaced by a placeholder, so that one bad
    // item cannot fail the whole batch; the items are checked one by one below.
    const body: unknown = req.body;
    const items = isObject(body) && Array.isArray(body.batch) ? (body.batch as unknown[]) : undefined;
    const envelope = parseOr400(batchEnvelope, items ? { ...(body as object), batch: items.map(() => null) } : body);
    const results: (IngestResult & { index: number })[] = [];
    const errors: ItemError[] = [];
    for (const [index, raw] of (items ?? []).entries()) {
      const error = await ingestItem(deps, envelope.context, raw, (result) => results.push({ index, ...result }));
      if (error) errors.push({ index, ...error });
    }
    // Nothing stored because the database is down: the whole batch is for a later retry.
    if (results.length === 0 && errors.some((e) => e.code === UNAVAILABLE.code)) throw UNAVAILABLE;
    res.status(results.length === 0 ? 400 : 202).json({ accepted: results.length, rejected: errors.length, results, errors });
  });

  return router;
}

async function ingestItem(
  deps: IngestDeps,
  context: Record<string, unknown> | undefined,
  raw: unknown,
  accept: (result: IngestResult) => void,
): Promise<Omit<ItemError, 'index'> | undefined> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { code: 'invalid_request', issues: [{ path: [], message: 'each item must be an object' }] };
  const rawItem = raw as Record<string, unknown>;
  const item = context ? { ...rawItem, context: { ...context, ...(isObject(rawItem.context) ? rawItem.context : {}) } } : rawItem;
  const handle = async <S extends z.ZodType>(schema: S, run: (payload: z.output<S>) => Promise<IngestResult>): Promise<Omit<ItemError, 'index'> | undefined> => {
    const parsed = parseRequest(schema, item);
    if (!parsed.success) return { code: 'invalid_request', issues: parsed.issues };
    if (tooLarge(item)) return { code: 'event_too_large', issues: [{ path: [], message: 'an event may be at most 32 KB' }] };
    try {
      accept(await run(parsed.data));
      return undefined;
    } catch (err) {
      // Whatever failed for this item (the database refused it, a bug) is reported for it
      // alone; the next items are still tried.
      const http = toHttpError(err);
      if (!http) deps.log.error({ err }, 'batch item failed');
      return { code: http?.code ?? 'internal', message: http?.message ?? 'internal error', issues: [] };
    }
  };
  if (rawItem.type === 'track') return handle(trackPayload, (p) => ingestTrack(deps, p));
  if (rawItem.type === 'identify') return handle(identifyPayload, (p) => ingestIdentify(deps, p));
  if (typeof rawItem.type !== 'string') return { code: 'invalid_request', issues: [{ path: ['type'], message: 'type is required ("track" or "identify")' }] };
  return { code: 'unsupported_type', issues: [{ path: ['type'], message: `type "${rawItem.type.slice(0, 100)}" is not supported; use "track" or "identify"` }] };
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
