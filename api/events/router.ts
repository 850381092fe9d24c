/** Segment-compatible ingestion: /v1/track, /v1/identify, /v1/batch. */
import { Router } from 'express';
import type { z } from 'zod';
import { parseWith, type Issue } from '../../flows/validate';
import { HttpError } from '../errors';
import { parseOr400 } from '../validate';
import { ingestIdentify, ingestTrack, type IngestDeps, type IngestResult } from './ingest';
import { batchEnvelope, identifyPayload, MAX_EVENT_BYTES, trackPayload } from './schemas';

function checkSize(item: unknown): void {
  if (Buffer.byteLength(JSON.stringify(item)) > MAX_EVENT_BYTES) {
    throw new HttpError(400, 'event_too_large', 'an event may be at most 32 KB');
  }
}

export function eventsRouter(deps: IngestDeps): Router {
  const router = Router();

  router.post('/track', async (req, res) => {
    checkSize(req.body);
    res.status(202).json(await ingestTrack(deps, parseOr400(trackPayload, req.body)));
  });

  router.post('/identify', async (req, res) => {
    checkSize(req.body);
    res.status(202).json(await ingestIdentify(deps, parseOr400(identifyPayload, req.body)));
  });

  // Items are handled in order (a contact's checkout before its order); a bad item is
  // reported with its index and does not stop the valid ones.
  router.post('/batch', async (req, res) => {
    const envelope = parseOr400(batchEnvelope, req.body);
    const results: (IngestResult & { index: number })[] = [];
    const errors: { index: number; code: string; issues: Issue[] }[] = [];
    for (const [index, raw] of envelope.batch.entries()) {
      const item = envelope.context ? { ...raw, context: { ...envelope.context, ...(raw.context as object | undefined) } } : raw;
      if (Buffer.byteLength(JSON.stringify(item)) > MAX_EVENT_BYTES) {
        errors.push({ index, code: 'event_too_large', issues: [{ path: [], message: 'an event may be at most 32 KB' }] });
        continue;
      }
      const handle = async <S extends z.ZodType>(schema: S, run: (payload: z.output<S>) => Promise<IngestResult>) => {
        const parsed = parseWith(schema, item);
        if (!parsed.success) errors.push({ index, code: 'invalid_request', issues: parsed.issues });
        else results.push({ index, ...(await run(parsed.data)) });
      };
      if (raw.type === 'track') await handle(trackPayload, (p) => ingestTrack(deps, p));
      else if (raw.type === 'identify') await handle(identifyPayload, (p) => ingestIdentify(deps, p));
      else errors.push({ index, code: 'unsupported_type', issues: [{ path: ['type'], message: `type "${raw.type}" is not supported; use "track" or "identify"` }] });
    }
    res.status(results.length === 0 ? 400 : 202).json({ accepted: results.length, rejected: errors.length, results, errors });
  });

  return router;
}
