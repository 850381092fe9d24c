/**
 * Sends under real faults: a Temporal dev server (real time, real activity timeouts), the
 * journey worker in a child process killed with SIGKILL while SendGrid holds its requests, and
 * a journey reset the way support does it from the Temporal UI. The fake SendGrid counts what
 * recipients get.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { contactDataConverter } from '../db/payload-codec';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import supertest from 'supertest';
import { createApp } from '../api/app';
import type { FlowInput } from '../flows/schema';
import { createLogger } from '../runtime/logger';
import { temporalCli } from '../runtime/temporal-binaries';
import { JOURNEY_SEARCH_ATTRIBUTES, journeyWorkflowId } from '../runtime/journey-identity';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { FakeSendGrid } from './helpers/fake-sendgrid';
import { waitFor } from './helpers/fake-http';
import { API_KEY, bundleJourneys, TEST_LINKS, TEST_WEBHOOKS } from './helpers/harness';

jest.setTimeout(180_000);

let env: TestWorkflowEnvironment;
let database: TestDatabase;
let sendgrid: FakeSendGrid;
let bundleDir: string;
let app: ReturnType<typeof createApp>;
const workers = new Set<ChildProcess>();

beforeAll(async () => {
  // Bundling first: it installs the quiet Temporal runtime, which must precede any connection.
  const bundle = await bundleJourneys();
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
  sendgrid = await new FakeSendGrid().start();
  bundleDir = mkdtempSync(path.join(os.tmpdir(), 'parcours-bundle-'));
  writeFileSync(path.join(bundleDir, 'bundle.json'), JSON.stringify(bundle));
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
  for (const worker of workers) worker.kill('SIGKILL');
  await env?.teardown();
  await sendgrid?.stop();
  await database?.drop();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

/** Starts the worker process; resolves once it polls. */
async function startWorker(): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, 'helpers', 'send-worker-process.ts')],
    {
      cwd: path.join(__dirname, '..'),
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        TEMPORAL_ADDRESS: env.address,
        SENDGRID_URL: sendgrid.url,
        WORKFLOW_BUNDLE_PATH: path.join(bundleDir, 'bundle.json'),
        SEND_LEASE_MS: '2000',
        SENDGRID_TIMEOUT_MS: '1500',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  workers.add(child);
  child.on('exit', () => workers.delete(child));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start: ${output}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`worker exited (${code}): ${output}`)));
  });
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const api = (method: 'get' | 'post' | 'put', url: string) =>
  supertest(app)[method](url).set('Authorization', `Bearer ${API_KEY}`);
async function putFlow(id: string, flow: FlowInput) {
  const res = await api('put', `/v1/flows/${id}`).send(flow);
  if (res.status >= 300) throw new Error(`PUT flow ${id}: ${res.status} ${JSON.stringify(res.body)}`);
}
async function track(userId: string, event: string) {
  const res = await api('post', '/v1/track').send({ userId, event, messageId: randomUUID() });
  if (res.status !== 200 || res.body.routing !== 'done')
    throw new Error(`track: ${res.status} ${JSON.stringify(res.body)}`);
}
const oneEmail = (trigger: string, subject: string, transactional: boolean): FlowInput => ({
  name: subject,
  status: 'live',
  trigger: { event: trigger },
  smartSending: { enabled: false },
  steps: [{ id: 'mail', type: 'email', subject, html: `<p>${subject}</p>`, transactional }],
});
const subjects = (to: string) =>
  sendgrid.emails
    .filter((e) => e.to === to)
    .map((e) => e.subject)
    .sort();
const journeyResult = (flowId: string, contactId: string) =>
  env.client.workflow.getHandle(journeyWorkflowId(flowId, contactId)).result();

test('the worker killed while SendGrid holds two emails: the marketing one is never sent again and shows "unknown"; the transactional one is sent again', async () => {
  await putFlow('promo', oneEmail('Promo Wanted', 'Promo', false));
  await putFlow('receipt', oneEmail('Receipt Wanted', 'Receipt', true));
  await api('post', '/v1/identify')
    .send({ userId: 'kim', traits: { email: 'kim@example.com' } })
    .expect(200);
  // SendGrid takes both messages, and its answers never come back before the kill.
  sendgrid.enqueue({ status: 202, delayMs: 600_000 }, { status: 202, delayMs: 600_000 });

  const first = await startWorker();
  await track('kim', 'Promo Wanted');
  await track('kim', 'Receipt Wanted');
  await waitFor(() => sendgrid.emails.length === 2, 'both emails at SendGrid', 60_000);
  await kill(first);

  await startWorker(); // the attempts on the dead worker time out (heartbeat) and are retried here
  const promo = await journeyResult('promo', 'kim');
  const receipt = await journeyResult('receipt', 'kim');

  expect(subjects('kim@example.com')).toEqual(['Promo', 'Receipt', 'Receipt']);
  expect(promo.steps).toMatchObject([{ stepId: 'mail', outcome: expect.stringMatching(/^skipped \(outcome unknown/) }]);
  expect(receipt.steps).toMatchObject([{ stepId: 'mail', outcome: 'sent via sendgrid' }]);
  const messages = (await api('get', '/v1/contacts/kim/messages')).body.messages as {
    flowId: string;
    status: string;
    reason: string | null;
    attempts: number;
  }[];
  expect(messages.find((m) => m.flowId === 'promo')).toMatchObject({
    status: 'unknown',
    attempts: 1,
    reason: expect.stringMatching(/marketing messages are not sent again/),
  });
  expect(messages.find((m) => m.flowId === 'receipt')).toMatchObject({ status: 'sent', attempts: 2 });
  const stats = (await api('get', '/v1/flows/promo/stats')).body;
  expect(stats.totals).toMatchObject({ sent: 0, unknown: 1 });
});

test('a journey reset from the Temporal UI (a new run from its first workflow task) does not send the email again', async () => {
  if (workers.size === 0) await startWorker();
  await putFlow('welcome', oneEmail('Joined', 'Welcome', false));
  await api('post', '/v1/identify')
    .send({ userId: 'lou', traits: { email: 'lou@example.com' } })
    .expect(200);
  await track('lou', 'Joined');
  const handle = env.client.workflow.getHandle(journeyWorkflowId('welcome', 'lou'));
  await handle.result();
  expect(subjects('lou@example.com')).toEqual(['Welcome']);

  const { runId } = await handle.describe();
  const history = await handle.fetchHistory();
  const firstTask = history.events!.find((e) => e.workflowTaskCompletedEventAttributes)!;
  const reset = await env.client.workflowService.resetWorkflowExecution({
    namespace: 'default',
    workflowExecution: { workflowId: handle.workflowId, runId },
    reason: 'support: replay the journey',
    workflowTaskFinishEventId: firstTask.eventId,
    requestId: randomUUID(),
  });
  expect(reset.runId).not.toBe(runId);
  const rerun = await env.client.workflow.getHandle(handle.workflowId, reset.runId!).result();

  expect(rerun.steps).toMatchObject([{ stepId: 'mail', outcome: 'sent via sendgrid' }]);
  expect(subjects('lou@example.com')).toEqual(['Welcome']);
});

test('SendGrid slower than our timeout: the journey goes on, one email, recorded "unknown"', async () => {
  if (workers.size === 0) await startWorker();
  await putFlow('slow', oneEmail('Slow Wanted', 'Slow', false));
  await api('post', '/v1/identify')
    .send({ userId: 'sal', traits: { email: 'sal@example.com' } })
    .expect(200);
  sendgrid.enqueue({ status: 202, delayMs: 5_000 });

  await track('sal', 'Slow Wanted');
  const result = await journeyResult('slow', 'sal');

  expect(result.steps).toMatchObject([
    {
      stepId: 'mail',
      outcome: expect.stringMatching(
        /^skipped \(outcome unknown \(SendGrid network error \(outcome unknown\): timeout/,
      ),
    },
  ]);
  expect(subjects('sal@example.com')).toEqual(['Slow']);
  expect((await api('get', '/v1/contacts/sal/messages')).body.messages).toMatchObject([
    { status: 'unknown', attempts: 1 },
  ]);
});

test('Postgres fails to record a sent email: Temporal retries the activity, the email is not sent again', async () => {
  if (workers.size === 0) await startWorker();
  await putFlow('blip', oneEmail('Blip Wanted', 'Blip', false));
  await api('post', '/v1/identify')
    .send({ userId: 'bea', traits: { email: 'bea@example.com' } })
    .expect(200);
  // The provider has accepted; the update that records it fails once (what a Postgres restart does).
  await database.db.query(`
    CREATE SEQUENCE blip_seq;
    CREATE FUNCTION blip() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status = 'sent' AND NEW.contact_id = 'bea' AND nextval('blip_seq') = 1 THEN RAISE EXCEPTION 'injected: the database went away'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER blip BEFORE UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION blip();`);

  await track('bea', 'Blip Wanted');
  const result = await journeyResult('blip', 'bea');

  expect(subjects('bea@example.com')).toEqual(['Blip']);
  expect(result.steps).toMatchObject([
    { stepId: 'mail', outcome: expect.stringMatching(/^skipped \(outcome unknown/) },
  ]);
  expect((await api('get', '/v1/contacts/bea/messages')).body.messages).toMatchObject([
    { status: 'unknown', attempts: 1 },
  ]);
});
