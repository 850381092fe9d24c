/**
 * The maintenance Schedule on a real Temporal dev server (the time-skipping test server has no
 * Schedules), with the real worker and Postgres: created at worker start, brought to the
 * current definition by the next start, and its runs reconcile a journey terminated from the
 * Temporal UI (the API then says "terminated", not "running").
 */
import https from 'node:https';
import { contactDataConverter } from '../db/payload-codec';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import supertest from 'supertest';
import webpush from 'web-push';
import { sendgridProvider } from '../activities/providers/sendgrid';
import { twilioProvider } from '../activities/providers/twilio';
import { webPushProvider } from '../activities/providers/webpush';
import { createApp } from '../api/app';
import { createLogger } from '../runtime/logger';
import { temporalCli } from '../runtime/temporal-binaries';
import { createJourneyWorker } from '../worker/create-worker';
import { ensureMaintenanceSchedule, MAINTENANCE_SCHEDULE_ID } from '../worker/schedules';
import { JOURNEY_SEARCH_ATTRIBUTES, journeyWorkflowId } from '../runtime/journey-identity';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { waitFor } from './helpers/fake-http';
import { API_KEY, bundleJourneys, TEST_LINKS, TEST_WEBHOOKS } from './helpers/harness';
import { recordHistory } from './helpers/histories';

jest.setTimeout(120_000);

let env: TestWorkflowEnvironment;
let database: TestDatabase;
let worker: Worker;
let running: Promise<void>;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  const workflowBundle = await bundleJourneys();
  database = await createTestDatabase();
  env = await TestWorkflowEnvironment.createLocal({
    client: { dataConverter: contactDataConverter(database.db) },
    server: {
      executable: temporalCli(),
      ip: '127.0.0.1',
      ui: false,
      searchAttributes: JOURNEY_SEARCH_ATTRIBUTES,
      log: { format: 'pretty', level: 'error' },
    },
  });
  // Providers pointed nowhere: the flow here sends nothing.
  worker = await createJourneyWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    workflowBundle,
    activities: {
      db: database.db,
      email: sendgridProvider({ apiKey: 'SG.unused', baseUrl: 'http://127.0.0.1:9' }),
      sms: twilioProvider({
        accountSid: `AC${'0'.repeat(32)}`,
        authToken: 't',
        from: '+1',
        baseUrl: 'http://127.0.0.1:9',
      }),
      push: webPushProvider({
        ...webpush.generateVAPIDKeys(),
        subject: 'mailto:ops@example.com',
        agent: new https.Agent(),
      }),
      emailFrom: 'shop@example.com',
      links: TEST_LINKS,
    },
  });
  running = worker.run();
  app = createApp({
    db: database.db,
    workflows: env.client.workflow,
    log: createLogger('silent'),
    apiKeys: [API_KEY],
    links: TEST_LINKS,
    webhooks: TEST_WEBHOOKS,
  });
});

afterAll(async () => {
  await env?.client.schedule
    .getHandle(MAINTENANCE_SCHEDULE_ID)
    .delete()
    .catch(() => undefined);
  worker?.shutdown();
  await running;
  await env?.teardown();
  await database?.drop();
});

const http = (method: 'get' | 'put' | 'post', path: string) =>
  supertest(app)[method](path).set('Authorization', `Bearer ${API_KEY}`);

test('the maintenance schedule is created, updated by the next worker start, and reconciles a terminated journey', async () => {
  // A first worker start with an hourly schedule, then a second one with a one-second schedule:
  // the schedule exists once, with the last definition (otherwise nothing runs within the test).
  await ensureMaintenanceSchedule(env.client, 3_600_000);
  await ensureMaintenanceSchedule(env.client, 1_000);
  const described = await env.client.schedule.getHandle(MAINTENANCE_SCHEDULE_ID).describe();
  expect(described.spec.intervals?.map((i) => i.every)).toEqual([1_000]);

  const put = await http('put', '/v1/flows/long-wait').send({
    name: 'Long wait',
    status: 'live',
    trigger: { event: 'Waited' },
    steps: [{ id: 'wait', type: 'delay', duration: '30 days' }],
  });
  expect(put.status).toBeLessThan(300);
  const tracked = await http('post', '/v1/track').send({ userId: 'sam', event: 'Waited' });
  expect(tracked.status).toBe(200);
  const journeyStatus = async () =>
    (
      await database.db.query<{ status: string }>(
        "SELECT status FROM journeys WHERE flow_id = 'long-wait' AND contact_id = 'sam'",
      )
    ).rows[0]?.status;
  await waitFor(async () => (await journeyStatus()) === 'running', 'the journey running', 30_000);

  // Ended from the Temporal UI: the journey never records it; the scheduled pass does.
  await env.client.workflow.getHandle(journeyWorkflowId('long-wait', 'sam')).terminate('support ended it');
  await waitFor(async () => (await journeyStatus()) === 'terminated', 'the journey reconciled', 60_000);

  // A finished pass, for the replay test (visibility lists it a moment after it closes).
  const pass = await waitFor(async () => {
    for await (const p of env.client.workflow.list({ query: 'WorkflowType="maintenanceWorkflow"' }))
      if (p.status.name === 'COMPLETED') return p;
    return undefined;
  }, 'a completed maintenance pass');
  await recordHistory('maintenance', 'scheduled-pass', env.client.workflow.getHandle(pass.workflowId, pass.runId));
});
