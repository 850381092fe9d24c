/**
 * Shopify webhooks: POST /v1/webhooks/shopify, one URL for every topic (X-Shopify-Topic).
 * Signed with X-Shopify-Hmac-Sha256 (base64 HMAC-SHA256 of the raw body with the app's or the
 * shop's webhook secret); mapped by connectors/shopify.ts; stored and routed like /v1/track.
 * Topics we do not map are acknowledged, so Shopify neither retries them nor disables the
 * subscription.
 */
import express, { Router } from 'express';
import { verifyBase64HmacSha256 } from '../../connectors/signature';
import { isShopifyTopic, mapShopifyWebhook, refundOrderId } from '../../connectors/shopify';
import { findOrderContact } from '../../db/shop-orders';
import { HttpError } from '../errors';
import { storableInstant } from '../../connectors/storable-json';
import type { IngestDeps } from '../events/ingest';
import { ingestDelivery, parseWebhookJson, requiredHeader } from './shop-ingest';

export const SHOPIFY_HMAC_HEADER = 'x-shopify-hmac-sha256';

export function shopifyWebhookRouter(deps: IngestDeps & { webhooks: { shopifySecret?: string } }): Router {
  const router = Router();
  // The signature covers the exact bytes: parse JSON only after verifying them.
  router.post('/shopify', express.raw({ type: () => true, limit: '5mb' }), async (req, res) => {
    const secret = deps.webhooks.shopifySecret;
    if (!secret)
      throw new HttpError(404, 'not_configured', 'the Shopify webhook is not configured (SHOPIFY_WEBHOOK_SECRET)');
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!verifyBase64HmacSha256(secret, body, req.get(SHOPIFY_HMAC_HEADER))) {
      throw new HttpError(401, 'invalid_signature', 'the X-Shopify-Hmac-Sha256 signature does not verify');
    }
    const topic = requiredHeader(req.get('x-shopify-topic'), 'X-Shopify-Topic');
    const webhookId = requiredHeader(req.get('x-shopify-webhook-id'), 'X-Shopify-Webhook-Id');
    if (!isShopifyTopic(topic)) {
      deps.log.info({ topic, webhookId }, 'shopify webhook topic not mapped: acknowledged');
      res.json({ topic, ignored: 'topic not mapped' });
      return;
    }
    const payload = parseWebhookJson(body);
    const triggered = storableInstant(req.get('x-shopify-triggered-at') ?? '');
    const delivery = {
      topic,
      webhookId,
      eventId: req.get('x-shopify-event-id')?.trim() || undefined,
      shop: req.get('x-shopify-shop-domain')?.trim() || undefined,
      // A retry carries the same time, and the event keeps when it happened, not when it arrived.
      // A time it cannot be (missing, past year 9999) leaves the event the time it arrived.
      triggeredAt: 'iso' in triggered ? triggered.iso : undefined,
    };
    const answer = await ingestDelivery(deps, 'Shopify', topic, async () => {
      // A refund names only its order: its contact is the one whose order that was.
      const orderId = topic === 'refunds/create' ? refundOrderId(payload) : undefined;
      return mapShopifyWebhook(
        delivery,
        payload,
        orderId ? await findOrderContact(deps.db, 'shopify', orderId) : undefined,
      );
    });
    if ('ignored' in answer) deps.log.info({ topic, webhookId, reason: answer.ignored }, 'shopify webhook ignored');
    res.json(answer);
  });
  return router;
}
