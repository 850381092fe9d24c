/** The environment, parsed once with zod: a misconfigured deployment fails at start with a clear message. */
import { isIP } from 'node:net';
import path from 'node:path';
import { IANAZone } from 'luxon';
import { z } from 'zod';
import { type MomentConfig, momentConfig } from '../calendar/moments';
import { projectRoot } from './project-root';

const optional = z.string().trim().min(1).optional();

/**
 * Whom the API takes the client's address from (Express's `trust proxy`): `false`, the socket's
 * peer (no proxy in front); a hop count; or the proxies' addresses and CIDRs. That address is
 * what consent records keep as proof and what logs show.
 */
export type TrustProxy = false | number | string[];

/** Express's names for the ranges a proxy in front usually sits in. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An IP, an IP/prefix (CIDR) or one of Express's range names. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true;
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** TRUST_PROXY's value, or undefined when it is neither a hop count nor a list of addresses. */
function trustProxyFrom(text: string | undefined): TrustProxy | undefined {
  const value = text?.trim() ?? '';
  if (value === '') return false;
  if (/^\d+$/.test(value)) return Number(value) === 0 ? false : Number(value);
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return entries.length > 0 && entries.every(isProxyAddress) ? entries : undefined;
}

const schema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    /**
     * The address the API (and the worker's /health) listens on: this machine only by default, so that a
     * development `npm start` is not reachable from the network; containers set 0.0.0.0.
     */
    HOST: z
      .string()
      .trim()
      .refine((host) => isIP(host) !== 0 || /^[a-z0-9.-]+$/i.test(host), 'an IP address or a host name')
      .default('127.0.0.1'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    PARCOURS_DATA_DIR: z.string().default(path.join(projectRoot, '.data')),
    DATABASE_URL: optional,
    TEMPORAL_ADDRESS: optional,
    TEMPORAL_NAMESPACE: z.string().default('default'),
    TEMPORAL_PORT: z.coerce.number().int().default(7233),
    TEMPORAL_UI_PORT: z.coerce.number().int().default(8233),
    /** Admin keys, comma-separated: every route. */
    API_KEYS: optional,
    /** Write keys, comma-separated: the ingestion routes only (safe in a web page or an app). */
    WRITE_KEYS: optional,
    /** Requests per second per write key (token bucket; 0: no limit), and the burst it allows. */
    RATE_LIMIT_WRITE_PER_SECOND: z.coerce.number().min(0).default(200),
    RATE_LIMIT_WRITE_BURST: z.coerce.number().int().min(1).default(1000),
    /** Requests per second per admin key (0: no limit), and the burst it allows. */
    RATE_LIMIT_ADMIN_PER_SECOND: z.coerce.number().min(0).default(500),
    RATE_LIMIT_ADMIN_BURST: z.coerce.number().int().min(1).default(1000),
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
    VAPID_SUBJECT: z
      .string()
      .regex(/^(mailto:|https:)/, 'a mailto: or https: URL')
      .optional(),
    /** Signs the requests of webhook steps (HMAC-SHA256). */
    WEBHOOK_SECRET: optional,
    /** Marketing messages per contact per rolling 24 hours, all flows and channels; 0: no cap. */
    FREQUENCY_CAP_PER_DAY: z.coerce.number().int().min(0).default(0),
    /** Marketing messages per contact per rolling 24 hours on one channel (besides the all-channel cap); 0: no cap. */
    FREQUENCY_CAP_EMAIL_PER_DAY: z.coerce.number().int().min(0).default(0),
    FREQUENCY_CAP_SMS_PER_DAY: z.coerce.number().int().min(0).default(0),
    FREQUENCY_CAP_PUSH_PER_DAY: z.coerce.number().int().min(0).default(0),
    /**
     * Marketing email without an explicit opt-in: `opt_out` (anyone not unsubscribed) or `opt_in` (subscribed only).
     */
    CONSENT_EMAIL: z.enum(['opt_out', 'opt_in']).default('opt_out'),
    /**
     * Language of the pages and messages Parcours writes itself (double opt-in email, unsubscribe and preference pages,
     * SMS keyword replies) for contacts without a `locale` trait: `fr`, `en`, `fr-FR`…
     */
    DEFAULT_LOCALE: z
      .string()
      .trim()
      .regex(/^[a-z]{2,3}([-_][a-z0-9]{1,8})*$/i, 'a language code such as "fr" or "fr-FR"')
      .default('en'),
    /** A JSON file of the shop's own texts by language, over the shipped ones (locales/texts.ts). */
    MESSAGES_FILE: optional,
    /** Time zone for contacts without a `timezone` trait (quiet hours, delay_until). */
    DEFAULT_TIMEZONE: z
      .string()
      .refine((zone) => IANAZone.isValidZone(zone), 'not an IANA time zone (e.g. "Europe/Paris")')
      .default('UTC'),
    /**
     * Calendar moments to add or override (calendar/moments.ts), JSON:
     * {"rentree":"09-02","soldes-ete":{"2027":"2027-06-23"}}.
     */
    CALENDAR_MOMENTS: z
      .string()
      .optional()
      .refine(
        (text) => !text?.trim() || momentConfig.safeParse(parseJson(text)).success,
        'a JSON object of moment id to "MM-DD" or { "YYYY": "YYYY-MM-DD" }',
      ),
    /**
     * The proxies in front of the API whose X-Forwarded-For is believed: a hop count (1: one proxy)
     * or comma-separated addresses/CIDRs. None by default: the API is published directly, and a
     * client could write any address there.
     */
    TRUST_PROXY: z
      .string()
      .optional()
      .transform((text, ctx) => {
        const trust = trustProxyFrom(text);
        if (trust !== undefined) return trust;
        ctx.addIssue({
          code: 'custom',
          message:
            `${JSON.stringify(text)} is neither a hop count (e.g. 1) ` +
            'nor comma-separated proxy addresses/CIDRs (e.g. 10.0.0.0/8,loopback)',
        });
        return z.NEVER;
      }),
    /** Where recipients' clients reach our /u (unsubscribe) and /t (tracking) routes and provider webhooks. */
    PUBLIC_URL: z.url().optional(),
    /** Signs unsubscribe and tracking links; the API and the worker must share it. */
    LINK_SECRET: z.string().min(16, 'use at least 16 characters').optional(),
    /**
     * Encrypts generic sources' HMAC secrets and fetch bearer tokens at rest (AES-256-GCM): 32 random bytes in base64
     * (`openssl rand -base64 32`). `npm run migrate` and the API need it once a source has such a secret.
     */
    SECRETS_KEY: z
      .string()
      .trim()
      .refine(
        (text) => /^[A-Za-z0-9+/]+={0,2}$/.test(text) && Buffer.from(text, 'base64').length === 32,
        '32 random bytes in base64 (openssl rand -base64 32)',
      )
      .optional(),
    /** SendGrid Event Webhook verification key (base64 DER, from the SendGrid settings). */
    SENDGRID_WEBHOOK_PUBLIC_KEY: optional,
    /**
     * Verifies Shopify webhooks (X-Shopify-Hmac-Sha256): the app's client secret, or the shop's webhook signing secret.
     */
    SHOPIFY_WEBHOOK_SECRET: optional,
    /** Verifies WooCommerce webhooks (X-WC-Webhook-Signature): the secret set on the webhook. */
    WOOCOMMERCE_WEBHOOK_SECRET: optional,
    /** Activities one worker runs at once; its Postgres pool is sized from it. */
    WORKER_ACTIVITY_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(20),
    /** Postgres connections per process; default 10 for the API, activity concurrency + 4 for the worker. */
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1000).optional(),
    /** Waiting for a Postgres connection before answering 503. */
    DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).default(5_000),
    /**
     * One SQL statement at most (statement_timeout); the client gives up 2 s later on a server that does not answer.
     */
    DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
    // Temporal connection beyond the address (Temporal Cloud, mTLS or API-key clusters). The names are
    // those of Temporal's own environment configuration (@temporalio/envconfig), which reads them.
    /** Sent as a bearer token; turns TLS on. */
    TEMPORAL_API_KEY: optional,
    /** `true` for TLS with the system CAs (set automatically by any other TEMPORAL_TLS_* variable). */
    TEMPORAL_TLS: z.enum(['true', 'false', '1', '0']).optional(),
    TEMPORAL_TLS_CLIENT_CERT_PATH: optional,
    TEMPORAL_TLS_CLIENT_CERT_DATA: optional,
    TEMPORAL_TLS_CLIENT_KEY_PATH: optional,
    TEMPORAL_TLS_CLIENT_KEY_DATA: optional,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: optional,
    TEMPORAL_TLS_SERVER_CA_CERT_DATA: optional,
    /** Server name to verify the certificate against when it differs from the address's host. */
    TEMPORAL_TLS_SERVER_NAME: optional,
    /** A Temporal client config file (TOML) and its profile; without them no file is read. */
    TEMPORAL_CONFIG_FILE: optional,
    TEMPORAL_PROFILE: optional,
    /** Port of the worker's own /health (compose healthchecks); unset: no health server. */
    WORKER_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    /**
     * Port of this process's Prometheus GET /metrics (API or worker), on HOST without a key: operators keep it off
     * the public network, as the worker's health port; unset: served on the worker's health port only.
     */
    METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    /** Port of the Temporal SDK's own Prometheus exporter in the worker (temporal_* metrics); unset: off. */
    TEMPORAL_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  })
  .superRefine((env, ctx) => {
    if (env.SENDGRID_API_KEY && !env.EMAIL_FROM) {
      ctx.addIssue({ code: 'custom', path: ['EMAIL_FROM'], message: 'required when SENDGRID_API_KEY is set' });
    }
    const vapid = [env.VAPID_PUBLIC_KEY, env.VAPID_PRIVATE_KEY, env.VAPID_SUBJECT];
    if (vapid.some(Boolean) && !vapid.every(Boolean)) {
      ctx.addIssue({
        code: 'custom',
        path: ['VAPID_PUBLIC_KEY'],
        message: 'set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT together',
      });
    }
    const pairs = [
      ['TEMPORAL_TLS_CLIENT_CERT', env.TEMPORAL_TLS_CLIENT_CERT_PATH ?? env.TEMPORAL_TLS_CLIENT_CERT_DATA],
      ['TEMPORAL_TLS_CLIENT_KEY', env.TEMPORAL_TLS_CLIENT_KEY_PATH ?? env.TEMPORAL_TLS_CLIENT_KEY_DATA],
    ] as const;
    if (Boolean(pairs[0][1]) !== Boolean(pairs[1][1])) {
      const missing = pairs[0][1] ? pairs[1][0] : pairs[0][0];
      ctx.addIssue({
        code: 'custom',
        path: [`${missing}_PATH`],
        message:
          'a client certificate needs its key: set TEMPORAL_TLS_CLIENT_CERT_* and TEMPORAL_TLS_CLIENT_KEY_* together',
      });
    }
    for (const name of [
      'TEMPORAL_TLS_CLIENT_CERT',
      'TEMPORAL_TLS_CLIENT_KEY',
      'TEMPORAL_TLS_SERVER_CA_CERT',
    ] as const) {
      if (env[`${name}_PATH`] && env[`${name}_DATA`]) {
        ctx.addIssue({ code: 'custom', path: [`${name}_DATA`], message: `set ${name}_PATH or ${name}_DATA, not both` });
      }
    }
    const twilio = [env.TWILIO_ACCOUNT_SID, env.TWILIO_AUTH_TOKEN, env.TWILIO_FROM];
    if (twilio.some(Boolean) && !twilio.every(Boolean)) {
      ctx.addIssue({
        code: 'custom',
        path: ['TWILIO_ACCOUNT_SID'],
        message: 'set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM together',
      });
    }
  });

export type Env = z.infer<typeof schema>;

/** Every variable the processes read: deployment files (docker-compose.yml) must pass each one through. */
export const ENV_VARIABLES = Object.keys(schema.shape) as (keyof Env)[];

/** Moments CALENDAR_MOMENTS adds or overrides (already checked by readEnv); undefined when not set. */
export function calendarMoments(env: Env): MomentConfig | undefined {
  const text = env.CALENDAR_MOMENTS?.trim();
  return text ? momentConfig.parse(JSON.parse(text)) : undefined;
}

/** Where the Temporal binaries are when not installed by the project (TEMPORAL_CLI_PATH, TEMPORAL_TEST_SERVER_PATH). */
export function binaryPathFromEnv(variable: 'TEMPORAL_CLI_PATH' | 'TEMPORAL_TEST_SERVER_PATH'): string | undefined {
  return process.env[variable] || undefined;
}

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  // An empty variable (`EMAIL_FROM=` in a compose file) means "not set".
  const set = Object.fromEntries(
    Object.entries(source).filter(([, value]) => value !== undefined && value.trim() !== ''),
  );
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
  if (!env.LINK_SECRET)
    throw new Error(
      'LINK_SECRET is not set: unsubscribe and tracking links are signed with it (the API and the worker share it)',
    );
  return env.LINK_SECRET;
}

/** SECRETS_KEY as the key itself; undefined when not set (sources with an HMAC secret then answer 503). */
export function secretsKey(env: Env): Buffer | undefined {
  return env.SECRETS_KEY ? Buffer.from(env.SECRETS_KEY, 'base64') : undefined;
}

/** What the API needs to verify provider webhooks; a provider left out answers 404. */
export function webhookSettings(env: Env): {
  sendgridPublicKey?: string;
  twilioAuthToken?: string;
  publicUrl: string;
  shopifySecret?: string;
  woocommerceSecret?: string;
} {
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
export function poolSettings(
  env: Env,
  role: 'api' | 'worker',
): { max: number; connectionTimeoutMs: number; statementTimeoutMs: number; queryTimeoutMs: number } {
  return {
    max: env.DATABASE_POOL_MAX ?? (role === 'worker' ? env.WORKER_ACTIVITY_CONCURRENCY + 4 : 10),
    connectionTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    queryTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS + 2_000,
  };
}

const keyList = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);

/** Admin keys. */
export function apiKeys(env: Env): string[] {
  return keyList(env.API_KEYS);
}

/** Write keys (ingestion only). */
export function writeKeys(env: Env): string[] {
  return keyList(env.WRITE_KEYS);
}

/** Per-key rate limits (shaped as api/middleware/rate-limit's RateLimits). */
export function rateLimits(env: Env): {
  write: { perSecond: number; burst: number };
  admin: { perSecond: number; burst: number };
} {
  return {
    write: { perSecond: env.RATE_LIMIT_WRITE_PER_SECOND, burst: env.RATE_LIMIT_WRITE_BURST },
    admin: { perSecond: env.RATE_LIMIT_ADMIN_PER_SECOND, burst: env.RATE_LIMIT_ADMIN_BURST },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
