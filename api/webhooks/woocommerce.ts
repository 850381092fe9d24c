/**
 * WooCommerce webhooks: POST /v1/webhooks/woocommerce, one URL for every topic
 * (X-WC-Webhook-Topic). Signed with X-WC-Webhook-Signature (base64 HMAC-SHA256 of the raw
 * body with the webhook's secret); mapped by connectors/woocommerce.ts; stored and routed like
 * /v1/track. When a webhook is saved, WooCommerce first posts an unsigned ping
 * (`webhook_id=N`, form-encoded) and disables the webhook unless it gets a 2xx: it is answered
 * 200 and stores nothing.
 */
import express, { Router } from 'express';
import { verifyBase64HmacSha256 } from '../../connectors/signature';
import { isWooCommerceTopic, mapWooCommerceWebhook } from '../../connectors/woocommerce';
import { HttpError } from '../errors';
import type { IngestDeps } from '../events/ingest';
import { ingestDelivery, parseWebhookJson, requiredHeader } from './shop-ingest';

export const WOOCOMMERCE_SIGNATURE_HEADER = 'x-wc-webhook-signature';
const PING = /^webhook_id=\d+$/;

export function woocommerceWebhookRouter(deps: IngestDeps & { webhooks: { woocommerceSecret?: string } }): Router {
  const router = Router();
  router.post('/woocommerce', express.raw({ type: () => true, limit: '5mb' }), async (req, res) => {
    const secret = deps.webhooks.woocommerceSecret;
    if (!secret)
      throw new HttpError(
        404,
        'not_configured',
        'the WooCommerce webhook is not configured (WOOCOMMERCE_WEBHOOK_SECRET)',
      );
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!req.get('x-wc-webhook-topic') && isPing(req.body)) {
      res.json({ ping: 'ok' });
      return;
    }
    if (!verifyBase64HmacSha256(secret, body, req.get(WOOCOMMERCE_SIGNATURE_HEADER))) {
      throw new HttpError(401, 'invalid_signature', 'the X-WC-Webhook-Signature does not verify');
    }
    const topic = requiredHeader(req.get('x-wc-webhook-topic'), 'X-WC-Webhook-Topic');
    const deliveryId = requiredHeader(req.get('x-wc-webhook-delivery-id'), 'X-WC-Webhook-Delivery-ID');
    if (!isWooCommerceTopic(topic)) {
      deps.log.info({ topic, deliveryId }, 'woocommerce webhook topic not mapped: acknowledged');
      res.json({ topic, ignored: 'topic not mapped' });
      return;
    }
    const payload = parseWebhookJson(body);
    const answer = await ingestDelivery(deps, 'WooCommerce', topic, () =>
      mapWooCommerceWebhook({ topic, deliveryId, source: req.get('x-wc-webhook-source') }, payload),
    );
    if ('ignored' in answer)
      deps.log.info({ topic, deliveryId, reason: answer.ignored }, 'woocommerce webhook ignored');
    res.json(answer);
  });
  return router;
}

// The ping is form-encoded: an urlencoded parser mounted earlier in the app may already have read it.
function isPing(body: unknown): boolean {
  if (Buffer.isBuffer(body)) return PING.test(body.toString('utf8').trim());
  if (typeof body !== 'object' || body === null) return false;
  const fields = Object.entries(body);
  return fields.length === 1 && fields[0][0] === 'webhook_id' && /^\d+$/.test(String(fields[0][1]));
}
