/** Builds the HTTP app without listening: server.ts listens, tests use it through supertest. */
import { codecRouter } from './codec/router';
import express from 'express';
import type { WorkflowClient } from '@temporalio/client';
import type { Db } from '../db/pool';
import type { Logger } from '../runtime/logger';
import { contactImportRouter, contactsRouter } from './contacts/router';
import { listsRouter } from './lists/router';
import { contactConsentRouter } from './contacts/consent-router';
import type { Texts } from '../locales/texts';
import type { ConfirmationSender } from '../engagement/double-opt-in';
import type { ConsentEmailPolicy } from '../audiences/consent-policy';
import { errorHandler, notFound } from './errors';
import { eventsRouter } from './events/router';
import { flowsRouter } from './flows/router';
import { flowStatsRouter } from './flows/stats-router';
import { healthRouter } from './health/router';
import { openApiRouter } from './openapi/router';
import { isIngestionPath } from './events/paths';
import { countRefusedIngestion } from './events/refusals';
import { authenticate, keyRing } from './middleware/auth';
import { ingestionCors } from './middleware/cors';
import { ingestionBody } from './middleware/ingest-body';
import { jsonBody } from './middleware/json-body';
import { rateLimit, type RateLimits } from './middleware/rate-limit';
import { noteErrorCode, requestLog } from './middleware/request-log';
import { outboxRouter } from './outbox/router';
import { calendarRouter } from './calendar/router';
import { segmentsRouter } from './segments/router';
import { campaignsRouter } from './campaigns/router';
import { routingRouter } from './routing/router';
import { consentRouter } from './consent/router';
import { listPreferences } from './consent/list-preferences';
import { sendgridWebhookRouter } from './webhooks/sendgrid';
import { twilioWebhookRouter } from './webhooks/twilio';
import { shopifyWebhookRouter } from './webhooks/shopify';
import { woocommerceWebhookRouter } from './webhooks/woocommerce';
import { sourcesRouter } from './sources/router';
import { productsRouter } from './products/router';
import { sourceEventsRouter } from './sources/receive';
import type { LinkSettings } from '../sending/links';

export interface AppDeps {
  db: Db;
  workflows: WorkflowClient;
  log: Logger;
  /** Admin keys: every route. */
  apiKeys: string[];
  /** Write keys: the ingestion routes only (safe to embed in a web page or an app). */
  writeKeys?: string[];
  /** Requests per key; without it, no limit. */
  rateLimits?: RateLimits;
  /**
   * TRUST_PROXY: the proxies whose X-Forwarded-For gives the client's address (a hop count, or their
   * addresses/CIDRs); none by default, since any client can write that header.
   */
  trustProxy?: false | number | string[];
  /** Signed unsubscribe and tracking links. */
  links: LinkSettings;
  /** Provider webhook verification; a provider without its key answers 404. */
  webhooks: {
    sendgridPublicKey?: string;
    twilioAuthToken?: string;
    publicUrl: string;
    shopifySecret?: string;
    woocommerceSecret?: string;
  };
  /** Double opt-in confirmation emails (the activities' email provider); without it `pending` on email is a 503. */
  confirmations?: ConfirmationSender;
  /** CONSENT_EMAIL, for the preference page and GET /v1/contacts/:id/consent. */
  consentEmail?: ConsentEmailPolicy;
  /** The shop's texts and DEFAULT_LOCALE: the consent pages and SMS keyword replies (default: English). */
  texts?: Texts;
  /**
   * The clock campaign schedules are resolved by (ms), which must be the one the workflows'
   * timers run on: the machine's by default, the time-skipping server's in tests.
   */
  now?: () => number | Promise<number>;
  /** DEFAULT_TIMEZONE: the zone of contacts without one, in a campaign's send window (default UTC). */
  defaultTimezone?: string;
  /** SECRETS_KEY (32 bytes): sources' HMAC secrets and bearer tokens are stored encrypted with it. */
  secretsKey?: Buffer;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // req.ip is kept as consent proof: only the configured proxies may set it.
  app.set('trust proxy', deps.trustProxy ?? false);

  app.use(requestLog(deps.log));
  app.use(healthRouter(deps));
  app.use(openApiRouter());

  const keys = keyRing({ admin: deps.apiKeys, write: deps.writeKeys });
  const limit = deps.rateLimits ? [rateLimit(deps.rateLimits)] : [];

  // Ingestion (INGESTION_PATHS), for write and admin keys. The body comes before the key:
  // browsers send the key in it. Other paths leave this router at once, so an events route
  // missing from INGESTION_PATHS is unreachable rather than unauthenticated. First, so that no
  // parser of the routers below (the consent pages read forms) takes an ingestion body.
  const ingestion = express.Router();
  ingestion.use((req, _res, next) => next(isIngestionPath(req) ? undefined : 'router'));
  ingestion.use(countRefusedIngestion());
  ingestion.use(ingestionCors(), ingestionBody());
  ingestion.use(authenticate(keys, 'ingestion'), ...limit);
  ingestion.use(eventsRouter(deps));
  app.use('/v1', ingestion);

  // Public: links in messages, and provider webhooks (each verifies its own signature).
  app.use(consentRouter({ ...deps, lists: listPreferences(deps.db) }));
  app.use('/v1/webhooks', sendgridWebhookRouter(deps), twilioWebhookRouter(deps));
  app.use('/v1/webhooks', shopifyWebhookRouter(deps), woocommerceWebhookRouter(deps));
  // Generic sources deliver to /v1/sources/:id/events, authenticated by the source's own secret.
  app.use('/v1/sources', sourceEventsRouter(deps));

  // Everything else: admin keys only (a write key gets 403).
  const admin = express.Router();
  admin.use(authenticate(keys, 'admin'), ...limit);
  // Imports stream their body (CSV, JSON lines): before the JSON parser.
  admin.use('/contacts', contactImportRouter(deps));
  admin.use(jsonBody());
  admin.use('/flows', flowsRouter(deps), flowStatsRouter(deps));
  admin.use('/contacts', contactConsentRouter(deps), contactsRouter(deps));
  admin.use('/lists', listsRouter(deps));
  admin.use('/outbox', outboxRouter(deps));
  admin.use('/segments', segmentsRouter(deps));
  admin.use('/sources', sourcesRouter(deps));
  admin.use('/products', productsRouter(deps));
  admin.use('/calendar', calendarRouter());
  admin.use('/campaigns', campaignsRouter(deps));
  admin.use('/routing', routingRouter(deps));
  admin.use('/codec', codecRouter(deps));
  app.use('/v1', admin);

  app.use((req, _res, next) => next(notFound(`route ${req.method} ${req.path}`)));
  app.use(noteErrorCode());
  app.use(errorHandler(deps.log));
  return app;
}
