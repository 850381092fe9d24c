/**
 * End to end, as a new user runs it: the real `npm start` (Temporal dev server, worker, calendar
 * clock, API) walked over HTTP with seconds-long delays and a birthday a minute or two away;
 * emails reach a fake SendGrid through the real client. No time skipping here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { contactDataConverter } from '../../db/payload-codec';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DateTime } from 'luxon';
import supertest from 'supertest';
import { CALENDAR_DATE_REACHED } from '../../flows/date-triggers';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { waitFor } from '../helpers/fake-http';
import { FakeSendGrid } from '../helpers/fake-sendgrid';
import { FakeTwilio } from '../helpers/fake-twilio';

jest.setTimeout(180_000);

const KEY = 'e2e-key';
const root = path.resolve(__dirname, '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let stack: ChildProcess;
let output = '';
let database: TestDatabase;
let dataDir: string;
const sendgrid = new FakeSendGrid();
const twilio = new FakeTwilio();
const ports = { api: 0, temporal: 0, ui: 0 };
let api: ReturnType<typeof supertest>;

beforeAll(async () => {
  database = await createTestDatabase();
  await sendgrid.start();
  await twilio.start();
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'parcours-e2e-'));
  [ports.api, ports.temporal, ports.ui] = [await freePort(), await freePort(), await freePort()];
  stack = spawn('npm', ['start'], {
    cwd: root,
    detached: true, // its own process group, so the whole stack can be stopped at once
    env: {
      ...process.env,
      PORT: String(ports.api),
      TEMPORAL_PORT: String(ports.temporal),
      TEMPORAL_UI_PORT: String(ports.ui),
      PARCOURS_DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      API_KEYS: KEY,
      SENDGRID_API_KEY: 'SG.e2e',
      SENDGRID_BASE_URL: sendgrid.url,
      EMAIL_FROM: 'shop@example.com',
      TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'token',
      TWILIO_FROM: '+15550001111',
      TWILIO_BASE_URL: twilio.url,
      LOG_LEVEL: 'warn',
    },
  });
  stack.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  stack.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor(
    () => output.includes('Parcours is running'),
    `npm start to be ready; output so far:\n${output}`,
    120_000,
  );
  api = supertest(`http://127.0.0.1:${ports.api}`);
});

afterAll(async () => {
  try {
    if (stack?.pid) process.kill(-stack.pid, 'SIGKILL'); // whatever is left of the stack
  } catch {
    // already gone
  }
  await sendgrid.stop();
  await twilio.stop();
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('npm start prints where everything is', () => {
  expect(output).toContain(`API          http://127.0.0.1:${ports.api}`);
  expect(output).toContain(`Temporal UI  http://127.0.0.1:${ports.ui}`);
  expect(output).toContain('Email        sendgrid');
});

test('the Temporal Web UI is served', async () => {
  const res = await fetch(`http://127.0.0.1:${ports.ui}/`);
  expect(res.status).toBe(200);
});

// The birthday's minute is a minute or two away: the contact and the flow are saved first, the abandoned cart runs
// meanwhile, and the email is awaited after it.
let fireAt: DateTime;

test('a contact whose birthday is today and a birthday flow at a minute from now are saved', async () => {
  // Not UTC, and half an hour off any whole-hour zone: the minute must be the contact's own.
  const zone = 'Asia/Kolkata';
  // The set minute: the first whole minute at least 30 s from now there (time enough to save the
  // contact and the flow). Its day there is the birthday: past midnight, that is the next date.
  fireAt = DateTime.now().setZone(zone).plus({ seconds: 30 }).startOf('minute').plus({ minutes: 1 });
  await api
    .post('/v1/identify')
    .set('Authorization', `Bearer ${KEY}`)
    .send({
      userId: 'e2e-birthday',
      traits: {
        email: 'birthday@example.com',
        firstName: 'Asha',
        birthday: `--${fireAt.toFormat('MM-dd')}`,
        timezone: zone,
      },
    })
    .expect(200);
  // Saved after the contact: saving a live date flow wakes the calendar clock, which then sleeps until the minute.
  const put = await api
    .put('/v1/flows/birthday')
    .set('Authorization', `Bearer ${KEY}`)
    .send({
      name: 'Birthday',
      status: 'live',
      smartSending: { enabled: false },
      trigger: { date: { property: 'birthday', at: fireAt.toFormat('HH:mm') } },
      steps: [{ id: 'wish', type: 'email', subject: 'Happy birthday {{ contact.firstName }}', html: '<p>🎂</p>' }],
    });
  expect(put.status).toBe(201);
});

test('abandoned cart over HTTP: one contact gets both emails, the one who orders gets one; support finds them by search attribute', async () => {
  const put = await api
    .put('/v1/flows/abandoned-cart')
    .set('Authorization', `Bearer ${KEY}`)
    .send({
      name: 'Abandoned cart',
      status: 'live',
      trigger: { event: 'Checkout Started' },
      exitWhen: [{ event: 'Order Completed' }],
      // Seconds-long delays: smart sending would hold back the second email, quiet hours the SMS at night.
      smartSending: { enabled: false },
      quietHours: { sms: null },
      steps: [
        { id: 'wait-1', type: 'delay', duration: '2 seconds' },
        {
          id: 'email-1',
          type: 'email',
          subject: 'Your cart: {{ event.properties.products[0].name }}',
          html: '<p>Come back</p>',
        },
        { id: 'wait-2', type: 'delay', duration: '4 seconds' },
        { id: 'email-2', type: 'email', subject: 'Last call', html: '<p>Last call</p>' },
        { id: 'sms', type: 'sms', body: 'Your cart expires today' },
      ],
    });
  expect(put.status).toBe(201);

  for (const [userId, email] of [
    ['e2e-keeps', 'keeps@example.com'],
    ['e2e-buys', 'buys@example.com'],
  ]) {
    await api
      .post('/v1/identify')
      .set('Authorization', `Bearer ${KEY}`)
      .send({ userId, traits: { email, phone: '+33612345678' } })
      .expect(200);
    // The SMS is marketing: it needs an opt-in.
    await api
      .put(`/v1/contacts/${userId}/consent/sms`)
      .set('Authorization', `Bearer ${KEY}`)
      .send({ status: 'subscribed', source: 'checkout' })
      .expect(200);
    await api
      .post('/v1/track')
      .set('Authorization', `Bearer ${KEY}`)
      .send({
        userId,
        event: 'Checkout Started',
        messageId: `co-${userId}`,
        properties: { products: [{ name: 'Wool scarf' }] },
      })
      .expect(200);
  }
  await waitFor(() => sendgrid.emails.some((e) => e.to === 'buys@example.com'), 'the first email to the buyer', 30_000);
  await api
    .post('/v1/track')
    .set('Authorization', `Bearer ${KEY}`)
    .send({ userId: 'e2e-buys', event: 'Order Completed' })
    .expect(200);

  const journeyOf = async (userId: string) =>
    (await api.get(`/v1/contacts/${userId}/journeys`).set('Authorization', `Bearer ${KEY}`)).body.journeys[0];
  await waitFor(
    async () => (await journeyOf('e2e-keeps'))?.status === 'completed' && true,
    'the first journey to complete',
    60_000,
  );
  await waitFor(
    async () => (await journeyOf('e2e-buys'))?.status === 'exited' && true,
    'the second journey to exit',
    30_000,
  );

  const subjects = (to: string) => sendgrid.emails.filter((e) => e.to === to).map((e) => e.subject);
  expect(subjects('keeps@example.com')).toEqual(['Your cart: Wool scarf', 'Last call']);
  expect(subjects('buys@example.com')).toEqual(['Your cart: Wool scarf']);
  expect(twilio.messages.map((m) => m.body)).toEqual(['Your cart expires today']);
  expect(await journeyOf('e2e-buys')).toMatchObject({ exitReason: 'flow_filter' });

  const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
  try {
    const found = [];
    // Its memo is encrypted with the contact's key, like its other payloads: the client decodes with the codec.
    const client = new Client({ connection, dataConverter: contactDataConverter(database.db) });
    for await (const wf of client.workflow.list({
      query: `ContactId = 'e2e-buys' AND FlowId = 'abandoned-cart'`,
    }))
      found.push(wf.workflowId);
    expect(found).toEqual(['journey:abandoned-cart:e2e-buys']);
  } finally {
    await connection.close();
  }
});

test("the birthday contact enters the birthday flow at the flow's minute, in the contact's zone, and gets the email", async () => {
  const wishes = () => sendgrid.emails.filter((e) => e.to === 'birthday@example.com');
  const waitMs = fireAt.toMillis() - Date.now() + 60_000;
  const [wish] = await waitFor(() => wishes().length > 0 && wishes(), 'the birthday email', waitMs);
  expect(wish.subject).toBe('Happy birthday Asha');
  // Not before its minute (a date trigger that ignored `at` or the zone would have sent it at once).
  expect(wish.at).toBeGreaterThanOrEqual(fireAt.toMillis());
  // The entry is dated at the minute itself, and for the contact's own day.
  const { rows } = await database.db.query<{ occurred_at: Date; date: string }>(
    "SELECT occurred_at, properties->>'date' AS date FROM events WHERE name = $1 AND contact_id = $2",
    [CALENDAR_DATE_REACHED, 'e2e-birthday'],
  );
  expect(rows.map((r) => ({ at: r.occurred_at.getTime(), date: r.date }))).toEqual([
    { at: fireAt.toMillis(), date: fireAt.toISODate() },
  ]);
  const journeys = (await api.get('/v1/contacts/e2e-birthday/journeys').set('Authorization', `Bearer ${KEY}`)).body
    .journeys as { flowId: string }[];
  expect(journeys.map((j) => j.flowId)).toEqual(['birthday']);
  expect(wishes()).toHaveLength(1);
}, 240_000);

test('SIGTERM stops the whole stack: no process of it is left, the ports are free', async () => {
  process.kill(-stack.pid!, 'SIGTERM');
  const groupAlive = () => {
    try {
      process.kill(-stack.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };
  await waitFor(() => !groupAlive(), 'every process of the stack to exit', 30_000);
  for (const port of [ports.api, ports.temporal]) {
    await new Promise<void>((resolve, reject) => {
      const probe = createServer()
        .once('error', reject)
        .listen(port, '127.0.0.1', () => probe.close(() => resolve()));
    });
  }
});
