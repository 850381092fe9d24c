/**
 * Everything a journey test needs, all real: the time-skipping Temporal test server, a
 * fresh Postgres database, the journey worker with the real activities (the real SendGrid
 * and Twilio clients pointed at fakes on 127.0.0.1) and the API app driven through supertest.
 */
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundleOption, type Worker } from '@temporalio/worker';
import { contactDataConverter } from '../../db/payload-codec';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { type WorkflowClient, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import supertest from 'supertest';
import type { Express } from 'express';
import { type AppDeps, createApp } from '../../api/app';
import { sendgridProvider } from '../../activities/providers/sendgrid';
import { twilioProvider } from '../../activities/providers/twilio';
import { webPushProvider } from '../../activities/providers/webpush';
import { generateKeyPairSync } from 'node:crypto';
import https from 'node:https';
import webpush from 'web-push';
import type { FlowInput } from '../../flows/schema';
import type { ConsentEmailPolicy } from '../../audiences/consent-policy';
import type { ActivityDeps } from '../../activities';
import { createLogger, type Logger } from '../../runtime/logger';
import { registerSearchAttributes } from '../../runtime/temporal';
import { temporalCli, temporalTestServer } from '../../runtime/temporal-binaries';
import { startRouterLoop, type RouterLoop, type RouterLoopOptions } from '../../routing/router-loop';
import { createJourneyWorker } from '../../worker/create-worker';
import { sharedBundlePath } from './shared-bundle';
import { journeyWorkflowId } from '../../runtime/journey-identity';
import { journeyStateQuery, type JourneyResult } from '../../flows/journey-messages';
import type { journeyWorkflow } from '../../workflows/journey';
import { createTestDatabase, type TestDatabase } from './database';
import { FakeSendGrid } from './fake-sendgrid';
import type { Texts } from '../../locales/texts';
import { FakeTwilio } from './fake-twilio';
import { waitFor } from './fake-http';
import { testToday } from './today';

export const API_KEY = 'test-key';
/** A write key: ingestion routes only, as a web page or Segment's libraries would hold it. */
export const WRITE_KEY = 'test-write-key';
export const WEBHOOK_SECRET = 'whsec_test';
/** Links in emails point here; tests take the path and call the app. */
/** SECRETS_KEY of the test API: sources' HMAC secrets and bearer tokens are encrypted with it. */
export const TEST_SECRETS_KEY = Buffer.alloc(32, 7);
export const TEST_LINKS = { publicUrl: 'https://parcours.test', secret: 'test-link-secret-0123456789' };
/** The SendGrid Event Webhook signing key pair (SendGrid keeps the private half). */
export const SENDGRID_WEBHOOK_KEYS = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
export const TEST_WEBHOOKS = {
  sendgridPublicKey: SENDGRID_WEBHOOK_KEYS.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
  twilioAuthToken: 'twilio-token',
  publicUrl: TEST_LINKS.publicUrl,
};
/** Generated once for the tests (web-push's generateVAPIDKeys). */
export const TEST_VAPID = { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@example.com' };
export const TWILIO_SID = `AC${'0'.repeat(32)}`;

let runtimeInstalled = false;
function quietRuntime(): void {
  if (runtimeInstalled) return;
  // Activity failures the tests provoke on purpose would otherwise print stack traces.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  runtimeInstalled = true;
}

/** The project's workflows: this run's shared bundle when global-setup made one; other folders bundled here. */
export async function bundleJourneys(
  workflowsPath = require.resolve('../../workflows'),
): Promise<WorkflowBundleOption> {
  quietRuntime();
  const shared = sharedBundlePath();
  if (shared && workflowsPath === require.resolve('../../workflows')) return { codePath: shared };
  return bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
}

type TrackAnswer = {
  eventId: number;
  duplicate: boolean;
  /** Stored as history: it starts no flow (flows/entry-time.ts). */
  history: boolean;
  routing: string;
  journeys: {
    started: unknown[];
    alreadyInFlow: unknown[];
    notEntered: { flowId: string; reason: string }[];
    signalled: unknown[];
  };
};

export class Harness {
  private workerRun?: Promise<void>;
  private routerLoop?: RouterLoop;

  private constructor(
    readonly env: TestWorkflowEnvironment,
    readonly database: TestDatabase,
    readonly sendgrid: FakeSendGrid,
    readonly twilio: FakeTwilio,
    readonly worker: Worker,
    readonly app: Express,
    readonly log: Logger,
    private readonly appDeps: AppDeps,
  ) {}

  /** The same API with other settings (TRUST_PROXY…). */
  appWith(settings: Partial<AppDeps>): Express {
    return createApp({ ...this.appDeps, ...settings });
  }

  /** The same API on another Temporal client (one behind a proxy that can be switched off). */
  appUsing(workflows: WorkflowClient): Express {
    return createApp({ ...this.appDeps, workflows });
  }

  /**
   * `runWorker: false` leaves the worker stopped until `startWorker()` (a worker outage);
   * `runRouter: false` the router loop until `startRouter()` (what the API process runs).
   */
  static async start(
    opts: {
      workflowBundle?: WorkflowBundleOption;
      runWorker?: boolean;
      runRouter?: boolean;
      frequencyCapPerDay?: number;
      consentEmail?: ConsentEmailPolicy;
      /** The shop's texts and DEFAULT_LOCALE (locales/texts.ts `textsOf`); default English. */
      texts?: Texts;
      frequencyCapPerChannel?: ActivityDeps['frequencyCapPerChannel'];
      /** Beside TEST_WEBHOOKS: the shop webhooks' secrets (without them, their routes answer 404). */
      webhooks?: { shopifySecret?: string; woocommerceSecret?: string };
      /**
       * A dev server (real limits, no time skipping) started with these extra arguments
       * (`--dynamic-config-value limit.maxIDLength=100`) instead of the time-skipping server.
       */
      devServerArgs?: string[];
      /**
       * A date-sensitive suite: the server's clock starts at the test "today" (test/helpers/today.ts,
       * `PARCOURS_TEST_TODAY`), and the suite derives its dates from `env.currentTimeMs()`. Not with
       * `devServerArgs`: the dev server keeps the real clock.
       */
      today?: boolean;
      /** Journeys' payloads in the clear: recordings for the replay tests, which replay without the keys. */
      plainPayloads?: boolean;
    } = {},
  ): Promise<Harness> {
    quietRuntime();
    const log = createLogger('silent');
    const database = await createTestDatabase();
    // The client encrypts journeys' payloads per contact like the worker does (db/payload-codec.ts).
    const client = opts.plainPayloads ? {} : { dataConverter: contactDataConverter(database.db) };
    const env = opts.devServerArgs
      ? await TestWorkflowEnvironment.createLocal({
          client,
          server: {
            executable: temporalCli(),
            extraArgs: opts.devServerArgs,
            log: { format: 'pretty', level: 'error' },
          },
        })
      : await TestWorkflowEnvironment.createTimeSkipping({ client, server: { executable: temporalTestServer() } });
    if (opts.today && !opts.devServerArgs) {
      // The test server starts at the real clock: skip it forward before anything reads it.
      const ahead = testToday().startMs - (await env.currentTimeMs());
      if (ahead > 0) await env.sleep(ahead);
    }
    await registerSearchAttributes({ address: env.address, namespace: 'default' }, log);
    const sendgrid = await new FakeSendGrid().start();
    const twilio = await new FakeTwilio().start();
    // One email client for journeys and the API's double opt-in confirmations, as in production.
    const email = sendgridProvider({ apiKey: 'SG.test-key', baseUrl: sendgrid.url });
    const worker = await createJourneyWorker({
      connection: env.nativeConnection,
      encryptPayloads: !opts.plainPayloads,
      namespace: 'default',
      workflowBundle: opts.workflowBundle ?? (await bundleJourneys()),
      activities: {
        db: database.db,
        email,
        sms: twilioProvider({
          accountSid: TWILIO_SID,
          authToken: 'twilio-token',
          from: '+15550000000',
          baseUrl: twilio.url,
        }),
        push: webPushProvider({ ...TEST_VAPID, agent: new https.Agent({ rejectUnauthorized: false }) }),
        emailFrom: 'shop@example.com',
        webhookSecret: WEBHOOK_SECRET,
        frequencyCapPerDay: opts.frequencyCapPerDay ?? 0,
        frequencyCapPerChannel: opts.frequencyCapPerChannel,
        links: TEST_LINKS,
        consentEmail: opts.consentEmail,
        texts: opts.texts,
      },
    });
    const appDeps: AppDeps = {
      db: database.db,
      workflows: env.client.workflow,
      log,
      apiKeys: [API_KEY],
      writeKeys: [WRITE_KEY],
      links: TEST_LINKS,
      webhooks: { ...TEST_WEBHOOKS, ...opts.webhooks },
      secretsKey: TEST_SECRETS_KEY,
      confirmations: { email, from: 'shop@example.com', links: TEST_LINKS, texts: opts.texts },
      consentEmail: opts.consentEmail,
      texts: opts.texts,
      now: () => env.currentTimeMs(),
    };
    const harness = new Harness(env, database, sendgrid, twilio, worker, createApp(appDeps), log, appDeps);
    if (opts.runWorker !== false) harness.startWorker();
    if (opts.runRouter !== false) harness.startRouter();
    return harness;
  }

  /** The router loop, as the API process runs it (polling faster: tests wait on it). */
  startRouter(options: Partial<RouterLoopOptions> = {}): void {
    this.routerLoop ??= startRouterLoop(
      { db: this.db, workflows: this.env.client.workflow, log: this.log },
      { intervalMs: 100, ...options },
    );
  }

  async stopRouter(): Promise<void> {
    await this.routerLoop?.stop();
    this.routerLoop = undefined;
  }

  startWorker(): void {
    this.workerRun = this.worker.run();
  }

  /** A worker outage from now on: a Worker cannot run again once shut down, so this is for a suite's last test. */
  async stopWorker(): Promise<void> {
    if (!this.workerRun) return;
    this.worker.shutdown();
    await this.workerRun;
    this.workerRun = undefined;
  }

  get db() {
    return this.database.db;
  }

  /** An authenticated request to the API. */
  http(method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string) {
    return supertest(this.app)[method](path).set('Authorization', `Bearer ${API_KEY}`);
  }

  async putFlow(id: string, flow: FlowInput): Promise<void> {
    const res = await this.http('put', `/v1/flows/${id}`).send(flow);
    if (res.status >= 300) throw new Error(`PUT flow ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  }

  async identify(userId: string, traits: Record<string, unknown>): Promise<void> {
    const res = await this.http('post', '/v1/identify').send({ userId, traits });
    if (res.status !== 200) throw new Error(`identify: ${res.status} ${JSON.stringify(res.body)}`);
  }

  /**
   * Like a real client, stamps the event with the current time, which here is the test
   * server's clock: it runs ahead of the wall clock once time has been skipped.
   */
  async track(payload: Record<string, unknown>) {
    const timestamp = payload.timestamp ?? new Date(await this.env.currentTimeMs()).toISOString();
    const res = await this.http('post', '/v1/track').send({ ...payload, timestamp });
    if (res.status !== 200) throw new Error(`track: ${res.status} ${JSON.stringify(res.body)}`);
    const body = res.body as TrackAnswer;
    // On a loaded machine the request's 800 ms routing deadline can pass ("deferred", as in
    // production): the router loop routes the event a moment later. Tests read that outcome.
    if (body.routing !== 'deferred' || !this.routerLoop) return body;
    const routed = await waitFor(
      async () => {
        const { rows } = await this.db.query<{ routing_result: TrackAnswer['journeys'] | null }>(
          'SELECT routing_result FROM events WHERE id = $1 AND routed_at IS NOT NULL',
          [body.eventId],
        );
        return rows[0]?.routing_result ?? undefined;
      },
      `event ${body.eventId} to be routed by the router loop`,
      60_000,
    );
    return { ...body, routing: 'done', journeys: routed };
  }

  /**
   * Waits until every stored event is routed: webhooks and tracking links answer before their
   * events are routed (in the background), and time skipped meanwhile would outrun them.
   */
  async allRouted(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () =>
        (await this.db.query('SELECT 1 FROM events WHERE routed_at IS NULL LIMIT 1')).rowCount === 0 || undefined,
      'every stored event to be routed',
      timeoutMs,
    );
  }

  journey(flowId: string, contactId: string): WorkflowHandle<typeof journeyWorkflow> {
    return this.env.client.workflow.getHandle(journeyWorkflowId(flowId, contactId));
  }

  /**
   * Waits until the journey exists in Temporal: journeys the router loop starts (profile
   * changes made by steps, deferred events) appear a moment after what caused them.
   */
  async journeyStarted(
    flowId: string,
    contactId: string,
    timeoutMs = 15_000,
  ): Promise<WorkflowHandle<typeof journeyWorkflow>> {
    const handle = this.journey(flowId, contactId);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await handle.describe();
        return handle;
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Waits for the journey to end, skipping time through its delays. */
  result(flowId: string, contactId: string): Promise<JourneyResult> {
    return this.journey(flowId, contactId).result();
  }

  state(flowId: string, contactId: string) {
    return this.journey(flowId, contactId).query(journeyStateQuery);
  }

  async stop(): Promise<void> {
    await this.stopRouter();
    await this.stopWorker();
    await this.env.teardown();
    await this.sendgrid.stop();
    await this.twilio.stop();
    await this.database.drop();
  }
}
