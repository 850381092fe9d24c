/**
 * The codec endpoint of the Temporal UI and CLI (`POST /v1/codec/decode`, `/encode`, admin keys):
 * support reads a journey's payloads decoded, while its contact exists. An erased contact's
 * payloads come back as they are, encrypted: their key is gone (db/payload-codec.ts).
 *
 *   temporal workflow show -w 'journey:<flow>:<contact>' \
 *     --codec-endpoint http://127.0.0.1:3000/v1/codec --codec-auth "Bearer $API_KEY"
 */
import { Router } from 'express';
import { z } from 'zod';
import type { Payload } from '@temporalio/common';
import type { Db } from '../../db/pool';
import { ContactPayloadCodec } from '../../db/payload-codec';
import { parseOr400 } from '../validate';

const base64 = z
  .string()
  .max(4_000_000)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const wirePayloads = z.strictObject({
  payloads: z
    .array(z.object({ metadata: z.record(z.string().max(256), base64).optional(), data: base64.optional() }))
    .max(10_000),
});
type WirePayload = z.infer<typeof wirePayloads>['payloads'][number];

const fromWire = (p: WirePayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toWire = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

export function codecRouter(deps: { db: Db }): Router {
  // Keys read afresh on every request: an erasure shows at once here.
  const codec = new ContactPayloadCodec(deps.db, { keyTtlMs: 0 });
  const router = Router();
  router.post('/decode', async (req, res) => {
    const { payloads } = parseOr400(wirePayloads, req.body);
    res.json({ payloads: (await codec.decode(payloads.map(fromWire))).map(toWire) });
  });
  // The UI encodes what it sends without naming a workflow: such payloads stay as they are.
  router.post('/encode', async (req, res) => {
    const { payloads } = parseOr400(wirePayloads, req.body);
    res.json({ payloads: (await codec.encode(payloads.map(fromWire))).map(toWire) });
  });
  return router;
}
