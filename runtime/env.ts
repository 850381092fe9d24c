/** The environment, parsed once with zod: a misconfigured deployment fails at start with a clear message. */
import path from 'node:path';
import { IANAZone } from 'luxon';
import { z } from 'zod';
import { projectRoot } from './temporal-binaries';

const optional = z.string().trim().min(1).optional();

const schema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    PARCOURS_DATA_DIR: z.string().default(path.join(projectRoot, '.data')),
    DATABASE_URL: optional,
    TEMPORAL_ADDRESS: optional,
    TEMPORAL_NAMESPACE: z.string().default('default'),
    TEMPORAL_PORT: z.coerce.number().int().default(7233),
    TEMPORAL_UI_PORT: z.coerce.number().int().default(8233),
    API_KEYS: optional,
    SENDGRID_API_KEY: optional,
    SENDGRID_BASE_URL: z.url().optional(),
    EMAIL_FROM: z.email().optional(),
    TWILIO_ACCOUNT_SID: z.string().startsWith('AC', 'a Twilio account SID starts with "AC"').optional(),
    TWILIO_AUTH_TOKEN: optional,
    TWILIO_FROM: optional,
    TWILIO_BASE_URL: z.url().optional(),
    VAPID_PUBLIC_KEY: optional,
    VAPID_PRIVATE_KEY: optional,
    /** A mailto: or https: URL push services can reach the sender at. */
    VAPID_SUBJECT: z.string().regex(/^(mailto:|https:)/, 'a mailto: or https: URL').optional(),
    /** Signs the requests of webhook steps (HMAC-SHA256). */
    WEBHOOK_SECRET: optional,
    /** Marketing messages per contact per rolling 24 hours, all flows and channels; 0: no cap. */
    FREQUENCY_CAP_PER_DAY: z.coerce.number().int().min(0).default(0),
    /** Time zone for contacts without a `timezone` trait (quiet hours, delay_until). */
    DEFAULT_TIMEZONE: z.string().refine((zone) => IANAZone.isValidZone(zone), 'not an IANA time zone (e.g. "Europe/Paris")').default('UTC'),
    /** Where recipients' clients reach our /u (unsubscribe) and /t (tracking) routes and provider webhooks. */
    PUBLIC_URL: z.url().optional(),
    /** Signs unsubscribe and tracking links; the API and the worker must share it. */
    LINK_SECRET: z.string().min(16, 'use at least 16 characters').optional(),
    /** SendGrid Event Webhook verification key (base64 DER, from the SendGrid settings). */
    SENDGRID_WEBHOOK_PUBLIC_KEY: optional,
    /** Verifies Shopify webhooks (X-Shopify-Hmac-Sha256): the app's client secret, or the shop's webhook signing secret. */
    SHOPIFY_WEBHOOK_SECRET: optional,
    /** Verifies WooCommerce webhooks (X-WC-Webhook-Signature): the secret set on the webhook. */
    WOOCOMMERCE_WEBHOOK_SECRET: optional,
    /** Activities one worker runs at once; its Postgres pool is sized from it. */
    WORKER_ACTIVITY_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(20),
    /** Postgres connections per process; default 10 for the API, activity concurrency + 4 for the worker. */
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1000).optional(),
    /** Waiting for a Postgres connection before answering 503. */
    DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).default(5_000),
    /** One SQL statement at most (statement_timeout); the client gives up 2 s later on a server that does not answer. */
    DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  })
  .superRefine((env, ctx) => {
    if (env.SENDGRID_API_KEY && !env.EMAIL_FROM) {
      ctx.addIssue({ code: 'custom', path: ['EMAIL_FROM'], message: 'required when SENDGRID_API_KEY is set' });
    }
    const vapid = [env.VAPID_PUBLIC_KEY, env.VAPID_PRIVATE_KEY, env.VAPID_SUBJECT];
    if (vapid.some(Boolean) && !vapid.every(Boolean)) {
      ctx.addIssue({ code: 'custom', path: ['VAPID_PUBLIC_KEY'], message: 'set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT together' });
    }
    const twilio = [env.TWILIO_ACCOUNT_SID, env.TWILIO_AUTH_TOKEN, env.TWILIO_FROM];
    if (twilio.some(Boolean) && !twilio.every(Boolean)) {
      ctx.addIssue({ code: 'custom', path: ['TWILIO_ACCOUNT_SID'], message: 'set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM together' });
    }
  });

export type Env = z.infer<typeof schema>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  // An empty variable (`EMAIL_FROM=` in a compose file) means "not set".
  const set = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const parsed = schema.safeParse(set);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
  throw new Error(`invalid environment:\n${problems}`);
}

export function publicUrl(env: Env): string {
  return (env.PUBLIC_URL ?? `http://127.0.0.1:${env.PORT}`).replace(/\/$/, '');
}

/** The link secret, required where no development one is made (`npm run api`, `npm run worker`). */
export function requiredLinkSecret(env: Env): string {
  if (!env.LINK_SECRET) throw new Error('LINK_SECRET is not set: unsubscribe and tracking links are signed with it (the API and the worker share it)');
  return env.LINK_SECRET;
}

/** What the API needs to verify provider webhooks; a provider left out answers 404. */
export function webhookSettings(env: Env): { sendgridPublicKey?: string; twilioAuthToken?: string; publicUrl: string; shopifySecret?: string; woocommerceSecret?: string } {
  return {
    sendgridPublicKey: env.SENDGRID_WEBHOOK_PUBLIC_KEY,
    twilioAuthToken: env.TWILIO_AUTH_TOKEN,
    publicUrl: publicUrl(env),
    shopifySecret: env.SHOPIFY_WEBHOOK_SECRET,
    woocommerceSecret: env.WOOCOMMERCE_WEBHOOK_SECRET,
  };
}

/**
 * The Postgres pool of a process. The worker's pool fits its activity concurrency (each
 * running activity may hold a connection, plus a few for routing and heartbeats), so activities
 * never queue for connections until the connect timeout fails them. (Shaped as db/pool's
 * PoolSettings; not imported from there, so runtime/ and db/ do not import each other.)
 */
export function poolSettings(env: Env, role: 'api' | 'worker'): { max: number; connectionTimeoutMs: number; statementTimeoutMs: number; queryTimeoutMs: number } {
  return {
    max: env.DATABASE_POOL_MAX ?? (role === 'worker' ? env.WORKER_ACTIVITY_CONCURRENCY + 4 : 10),
    connectionTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    queryTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS + 2_000,
  };
}

export function apiKeys(env: Env): string[] {
  return (env.API_KEYS ?? '').split(',').map((k) => k.trim()).filter(Boolean);
}
