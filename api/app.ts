/** Builds the HTTP app without listening: server.ts listens, tests use it through supertest. */
import express from 'express';
import type { WorkflowClient } from '@temporalio/client';
import type { Db } from '../db/pool';
import type { Logger } from '../runtime/logger';
import { contactsRouter } from './contacts/router';
import { errorHandler, notFound } from './errors';
import { eventsRouter } from './events/router';
import { flowsRouter } from './flows/router';
import { flowStatsRouter } from './flows/stats-router';
import { healthRouter } from './health/router';
import { requireApiKey } from './middleware/auth';
import { jsonBody } from './middleware/json-body';
import { outboxRouter } from './outbox/router';
import { segmentsRouter } from './segments/router';
import { consentRouter } from './consent/router';
import { sendgridWebhookRouter } from './webhooks/sendgrid';
import { twilioWebhookRouter } from './webhooks/twilio';
import { shopifyWebhookRouter } from './webhooks/shopify';
import { woocommerceWebhookRouter } from './webhooks/woocommerce';
import { sourcesRouter } from './sources/router';
import { sourceEventsRouter } from './sources/receive';
import type { LinkSettings } from '../engagement/links';

export interface AppDeps {
  db: Db;
  workflows: WorkflowClient;
  log: Logger;
  apiKeys: string[];
  /** Signed unsubscribe and tracking links. */
  links: LinkSettings;
  /** Provider webhook verification; a provider without its key answers 404. */
  webhooks: { sendgridPublicKey?: string; twilioAuthToken?: string; publicUrl: string; shopifySecret?: string; woocommerceSecret?: string };
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', true);

  app.use(healthRouter(deps));

  // Public: links in messages, and provider webhooks (each verifies its own signature).
  app.use(consentRouter(deps));
  app.use('/v1/webhooks', sendgridWebhookRouter(deps), twilioWebhookRouter(deps));
  app.use('/v1/webhooks', shopifyWebhookRouter(deps), woocommerceWebhookRouter(deps));
  // Generic sources deliver to /v1/sources/:id/events, authenticated by the source's own secret.
  app.use('/v1/sources', sourceEventsRouter(deps));

  const v1 = express.Router();
  v1.use(requireApiKey(deps.apiKeys));
  v1.use(jsonBody());
  v1.use(eventsRouter(deps));
  v1.use('/flows', flowsRouter(deps), flowStatsRouter(deps));
  v1.use('/contacts', contactsRouter(deps));
  v1.use('/outbox', outboxRouter(deps));
  v1.use('/segments', segmentsRouter(deps));
  v1.use('/sources', sourcesRouter(deps));
  app.use('/v1', v1);

  app.use((req, _res, next) => next(notFound(`route ${req.method} ${req.path}`)));
  app.use(errorHandler(deps.log));
  return app;
}
