/**
 * The engagement loop: provider webhooks (signed exactly as SendGrid and Twilio sign them),
 * our own tracking links, unsubscribes, and what they change in running journeys.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import supertest from 'supertest';
import twilio from 'twilio';
import type { FlowInput } from '../flows/schema';
import { Harness, SENDGRID_WEBHOOK_KEYS, TEST_LINKS } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const email = (id: string, subject: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'email' as const,
  subject,
  html: `<p>${subject}</p>`,
  ...extra,
});
const flow = (trigger: string, steps: FlowInput['steps'], extra: Partial<FlowInput> = {}): FlowInput => ({
  name: trigger,
  status: 'live',
  trigger: { event: trigger },
  smartSending: { enabled: false },
  steps,
  ...extra,
});
const subjectsTo = (to: string) => h.sendgrid.emails.filter((e) => e.to === to).map((e) => e.subject);
type MessageView = {
  id: string;
  stepId: string;
  status: string;
  reason: string | null;
  deliveryStatus: string | null;
  openedAt: string | null;
  events: { source: string; type: string }[];
};
const messagesOf = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${contactId}/messages`)).body.messages as MessageView[];
const messageOf = async (contactId: string, stepId: string) =>
  (await messagesOf(contactId)).find((m) => m.stepId === stepId)!;
const pathOf = (url: string) => url.replace(TEST_LINKS.publicUrl, '');

/** Posts events to the SendGrid webhook, signed as SendGrid signs them (ECDSA P-256 over timestamp + raw body). */
function postSendgrid(
  events: object[],
  opts: { timestamp?: number; tamper?: (body: string) => string; key?: typeof SENDGRID_WEBHOOK_KEYS.privateKey } = {},
) {
  const body = JSON.stringify(events);
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = sign(
    'sha256',
    Buffer.from(timestamp + body),
    opts.key ?? SENDGRID_WEBHOOK_KEYS.privateKey,
  ).toString('base64');
  return supertest(h.app)
    .post('/v1/webhooks/sendgrid')
    .set('content-type', 'application/json')
    .set('X-Twilio-Email-Event-Webhook-Signature', signature)
    .set('X-Twilio-Email-Event-Webhook-Timestamp', timestamp)
    .send(opts.tamper ? opts.tamper(body) : body);
}

/** A SendGrid event as the Event Webhook documents it, with our custom args at the top level. */
const sgEvent = (messageId: string, event: string, extra: Record<string, unknown> = {}) => ({
  email: 'x@example.com',
  timestamp: Math.floor(Date.now() / 1000),
  event,
  sg_event_id: `${event}-${messageId}-${Math.random().toString(36).slice(2)}`,
  sg_message_id: 'sg-msg.filter0001',
  parcours_message_id: messageId,
  parcours_flow_id: 'f',
  parcours_step_id: 's',
  ...extra,
});

describe('SendGrid Event Webhook', () => {
  let messageId: string;
  beforeAll(async () => {
    await h.putFlow('one-mail', flow('Mail Me', [email('mail', 'Hello')]));
    await h.identify('webhooked', { email: 'webhooked@example.com' });
    await h.track({ userId: 'webhooked', event: 'Mail Me' });
    await h.result('one-mail', 'webhooked');
    messageId = (await messageOf('webhooked', 'mail')).id;
  });

  test('signed events are recorded on the message as its delivery history, once each', async () => {
    const delivered = sgEvent(messageId, 'delivered', { response: '250 OK' });
    const res = await postSendgrid([
      sgEvent(messageId, 'processed'),
      delivered,
      sgEvent(messageId, 'open', { sg_machine_open: false }),
      sgEvent(messageId, 'click', { url: 'https://shop.example.com/p/1' }),
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: 4, recorded: 4, duplicate: 0 });

    const again = await postSendgrid([delivered]);
    expect(again.body).toMatchObject({ recorded: 0, duplicate: 1 });

    const message = await messageOf('webhooked', 'mail');
    expect(message).toMatchObject({ deliveryStatus: 'delivered', openedAt: expect.any(String) });
    expect(message.events.map((e) => e.type)).toEqual(['processed', 'delivered', 'open', 'click']);
    const events = await h.db.query(
      "SELECT name, properties->>'message_id' AS m FROM events WHERE contact_id = 'webhooked' AND name LIKE 'Email %' ORDER BY id",
    );
    expect(events.rows).toEqual([
      { name: 'Email Delivered', m: messageId },
      { name: 'Email Opened', m: messageId },
      { name: 'Email Clicked', m: messageId },
    ]);
  });

  test('forged, tampered, unsigned and stale requests are refused', async () => {
    const forger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    expect((await postSendgrid([sgEvent(messageId, 'open')], { key: forger })).status).toBe(401);
    expect(
      (await postSendgrid([sgEvent(messageId, 'open')], { tamper: (b) => b.replace('open', 'click') })).status,
    ).toBe(401);
    expect(
      (
        await supertest(h.app)
          .post('/v1/webhooks/sendgrid')
          .send([sgEvent(messageId, 'open')])
      ).status,
    ).toBe(401);
    const stale = await postSendgrid([sgEvent(messageId, 'open')], { timestamp: Math.floor(Date.now() / 1000) - 600 });
    expect(stale.status).toBe(401);
    expect(stale.body.error.code).toBe('stale_request');
  });

  test('events of messages that are not ours are acknowledged and ignored', async () => {
    const { parcours_message_id: _m, ...foreign } = sgEvent(messageId, 'delivered');
    const res = await postSendgrid([foreign, sgEvent('00000000-0000-0000-0000-000000000000', 'delivered')]);
    expect(res.body).toMatchObject({ not_ours: 1, unknown_message: 1, recorded: 0 });
  });

  test('a hard bounce stops every email to the address, transactional included; a spam report stops marketing', async () => {
    await h.putFlow(
      'bouncy',
      flow('Bounce Me', [
        email('first', 'First'),
        { id: 'wait', type: 'delay', duration: '1 day' },
        email('receipt', 'Receipt', { transactional: true }),
      ]),
    );
    await h.identify('bouncer', { email: 'bouncer@example.com' });
    await h.track({ userId: 'bouncer', event: 'Bounce Me' });
    await h.env.sleep('1 hour');
    const first = await messageOf('bouncer', 'first');
    await postSendgrid([sgEvent(first.id, 'bounce', { type: 'bounce', reason: '550 5.1.1 no such user' })]);
    await h.result('bouncy', 'bouncer');
    expect(subjectsTo('bouncer@example.com')).toEqual(['First']);
    expect(await messageOf('bouncer', 'receipt')).toMatchObject({ status: 'skipped', reason: 'address is suppressed' });

    const suppressions = await h.db.query("SELECT scope FROM suppressions WHERE address = 'bouncer@example.com'");
    expect(suppressions.rows).toEqual([{ scope: 'all' }]);

    await h.identify('complainer', { email: 'complainer@example.com' });
    await h.track({ userId: 'complainer', event: 'Bounce Me' });
    await h.env.sleep('1 hour');
    await postSendgrid([sgEvent((await messageOf('complainer', 'first')).id, 'spamreport')]);
    await h.result('bouncy', 'complainer');
    expect(subjectsTo('complainer@example.com')).toEqual(['First', 'Receipt']);
    const complaint = await h.db.query(
      "SELECT scope, reason FROM suppressions WHERE address = 'complainer@example.com'",
    );
    expect(complaint.rows).toEqual([{ scope: 'marketing', reason: 'spam report' }]);
  });
});

describe('opens and clicks steer journeys', () => {
  const opened: FlowInput = flow('Newsletter Sent', [
    email('issue', 'This week'),
    { id: 'wait', type: 'delay', duration: '2 days' },
    { id: 'did-open', type: 'split', condition: { message: 'issue', engaged: 'opened' }, else: 'resend' },
    email('thanks', 'Thanks for reading'),
    { id: 'end', type: 'exit' },
    email('resend', 'Did you miss this?'),
  ]);

  test('an open posted to the webhook makes the journey take the "opened" branch; no open, the other', async () => {
    await h.putFlow('newsletter', opened);
    for (const user of ['reader', 'skimmer']) {
      await h.identify(user, { email: `${user}@example.com` });
      await h.track({ userId: user, event: 'Newsletter Sent' });
    }
    await h.env.sleep('1 hour');
    const issue = await messageOf('reader', 'issue');
    const res = await postSendgrid([sgEvent(issue.id, 'open')]);
    expect(res.body.recorded).toBe(1);

    const reader = await h.result('newsletter', 'reader');
    const skimmer = await h.result('newsletter', 'skimmer');
    expect(reader.steps.find((s) => s.stepId === 'did-open')!.outcome).toBe('yes');
    expect(skimmer.steps.find((s) => s.stepId === 'did-open')!.outcome).toBe('no');
    expect(subjectsTo('reader@example.com')).toEqual(['This week', 'Thanks for reading']);
    expect(subjectsTo('skimmer@example.com')).toEqual(['This week', 'Did you miss this?']);
  });

  test('"wait for Email Clicked" ends as soon as our tracked link is clicked; the redirect goes only where the email pointed', async () => {
    await h.putFlow(
      'tracked',
      flow(
        'Offer Sent',
        [
          email('offer', 'Offer', {
            html: '<p><a href="https://shop.example.com/offer?a=1&amp;b=2">See the offer</a></p>',
          }),
          {
            id: 'wait-click',
            type: 'wait_for_event',
            event: 'Email Clicked',
            timeout: '3 days',
            onTimeout: 'reminder',
          },
          email('clicked', 'Glad you liked it', { transactional: true }),
          { id: 'end', type: 'exit' },
          email('reminder', 'Offer ends soon'),
        ],
        { tracking: { opens: true, clicks: true } },
      ),
    );
    await h.identify('clicker', { email: 'clicker@example.com' });
    await h.track({ userId: 'clicker', event: 'Offer Sent' });
    await h.env.sleep('1 hour');

    const sent = h.sendgrid.emails.find((e) => e.to === 'clicker@example.com')!;
    const link = /href="(https:\/\/parcours\.test\/t\/c\/[^"]+)"/.exec(sent.html)![1];
    const pixel = /src="(https:\/\/parcours\.test\/t\/o\/[^"]+)"/.exec(sent.html)![1];
    expect(sent.html).not.toContain('href="https://shop.example.com');

    const pixelRes = await supertest(h.app).get(pathOf(pixel));
    expect(pixelRes.status).toBe(200);
    expect(pixelRes.headers['content-type']).toBe('image/gif');
    expect(pixelRes.headers['cache-control']).toContain('no-store');

    const tampered = pathOf(link).replace(/\.([^.]+)$/, '.AAAA');
    expect((await supertest(h.app).get(tampered)).status).toBe(400);
    const click = await supertest(h.app).get(pathOf(link));
    expect(click.status).toBe(302);
    expect(click.headers.location).toBe('https://shop.example.com/offer?a=1&b=2');
    // Answered before routing: the click reaches the journey before its wait is skipped through.
    await h.allRouted();

    const result = await h.result('tracked', 'clicker');
    expect(result.steps.find((s) => s.stepId === 'wait-click')!.outcome).toBe(
      'Email Clicked happened (message of step offer)',
    );
    expect(subjectsTo('clicker@example.com')).toEqual(['Offer', 'Glad you liked it']);
    expect((await messageOf('clicker', 'offer')).events.map((e) => e.type)).toEqual(['open', 'click']);
  });
});

describe('waits on a message', () => {
  const pixelOf = (to: string, subject: string) => {
    const sent = h.sendgrid.emails.find((e) => e.to === to && e.subject === subject)!;
    return pathOf(/src="(https:\/\/parcours\.test\/t\/o\/[^"]+)"/.exec(sent.html)![1]);
  };
  const opensFlow = (trigger: string, message?: string): FlowInput =>
    flow(
      trigger,
      [
        email('news', 'This month'),
        {
          id: 'wait-open',
          type: 'wait_for_event',
          event: 'Email Opened',
          timeout: '2 days',
          onTimeout: 'end',
          ...(message ? { message } : {}),
        },
        email('thanks', 'Thanks for reading'),
        { id: 'end', type: 'exit' },
      ],
      { tracking: { opens: true, clicks: false } },
    );

  beforeAll(async () => {
    await h.putFlow(
      'other-promo',
      flow('Promo Sent', [email('promo', 'Promo')], { tracking: { opens: true, clicks: false } }),
    );
  });

  test("waiting for Email Opened: another flow's email opened is not an answer; the journey's own email is", async () => {
    await h.putFlow('open-thanks', opensFlow('News Sent'));
    await h.identify('reader2', { email: 'reader2@example.com' });
    await h.track({ userId: 'reader2', event: 'Promo Sent' });
    await h.track({ userId: 'reader2', event: 'News Sent' });
    await h.env.sleep('1 hour');
    expect(subjectsTo('reader2@example.com').sort()).toEqual(['Promo', 'This month']);

    expect((await supertest(h.app).get(pixelOf('reader2@example.com', 'Promo'))).status).toBe(200);
    await h.allRouted();
    await h.env.sleep('1 hour');
    expect((await h.state('open-thanks', 'reader2')).currentStep).toBe('wait-open');
    expect(subjectsTo('reader2@example.com')).not.toContain('Thanks for reading');

    expect((await supertest(h.app).get(pixelOf('reader2@example.com', 'This month'))).status).toBe(200);
    await h.allRouted();
    const result = await h.result('open-thanks', 'reader2');
    expect(result.steps.find((s) => s.stepId === 'wait-open')!.outcome).toBe(
      'Email Opened happened (message of step news)',
    );
    expect(subjectsTo('reader2@example.com').filter((s) => s === 'Thanks for reading')).toHaveLength(1);
  });

  test('with "message": "any", any email opened answers the wait', async () => {
    await h.putFlow('open-any', opensFlow('Any News Sent', 'any'));
    await h.identify('reader3', { email: 'reader3@example.com' });
    await h.track({ userId: 'reader3', event: 'Promo Sent' });
    await h.track({ userId: 'reader3', event: 'Any News Sent' });
    await h.env.sleep('1 hour');
    expect((await supertest(h.app).get(pixelOf('reader3@example.com', 'Promo'))).status).toBe(200);
    await h.allRouted();
    const result = await h.result('open-any', 'reader3');
    expect(result.steps.find((s) => s.stepId === 'wait-open')!.outcome).toBe('Email Opened happened');
    expect(subjectsTo('reader3@example.com')).toContain('Thanks for reading');
  });

  test('"message" must name a send step of the flow, and only on an event about a message', async () => {
    const bad = opensFlow('Bad Wait', 'nowhere');
    const res = await h.http('put', '/v1/flows/bad-wait').send(bad);
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([
      {
        path: ['steps', 1, 'message'],
        message: expect.stringContaining('"nowhere" is not an email, sms or push step'),
      },
    ]);
    const notMessage = flow('Bad Wait 2', [
      { id: 'w', type: 'wait_for_event', event: 'Order Completed', timeout: '1 day', message: 'any' },
    ]);
    const res2 = await h.http('put', '/v1/flows/bad-wait-2').send(notMessage);
    expect(res2.status).toBe(400);
    expect(res2.body.error.issues).toEqual([
      { path: ['steps', 0, 'message'], message: expect.stringContaining('events about a message') },
    ]);
  });
});

describe('unsubscribe', () => {
  test('every marketing email carries RFC 8058 one-click headers and a footer link; transactional mail does not', async () => {
    await h.putFlow(
      'headers',
      flow('Headers Check', [email('promo', 'Promo'), email('receipt', 'Receipt', { transactional: true })]),
    );
    await h.identify('headed', { email: 'headed@example.com' });
    await h.track({ userId: 'headed', event: 'Headers Check' });
    await h.result('headers', 'headed');
    const [promo, receipt] = h.sendgrid.emails.filter((e) => e.to === 'headed@example.com');
    expect(promo.headers['List-Unsubscribe']).toMatch(/^<https:\/\/parcours\.test\/u\/[\w.-]+>$/);
    expect(promo.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    expect(promo.html).toContain(promo.headers['List-Unsubscribe'].slice(1, -1));
    expect(receipt.headers).toEqual({});
    expect(receipt.html).toBe('<p>Receipt</p>');
  });

  test('a one-click unsubscribe between two steps: the second marketing email is not sent, the receipt is', async () => {
    await h.putFlow(
      'two-step',
      flow('Two Step', [
        email('step-1', 'One'),
        { id: 'wait', type: 'delay', duration: '1 day' },
        email('step-2', 'Two'),
        email('receipt', 'Receipt', { transactional: true }),
      ]),
    );
    await h.identify('leaver', { email: 'leaver@example.com' });
    await h.track({ userId: 'leaver', event: 'Two Step' });
    await h.env.sleep('1 hour');
    const first = h.sendgrid.emails.find((e) => e.to === 'leaver@example.com')!;
    const link = pathOf(first.headers['List-Unsubscribe'].slice(1, -1));

    const page = await supertest(h.app).get(link);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<form method="post">');
    expect((await h.db.query("SELECT 1 FROM suppressions WHERE address = 'leaver@example.com'")).rowCount).toBe(0); // a GET (link scanner) changes nothing

    for (let i = 0; i < 2; i += 1) {
      const done = await supertest(h.app).post(link).type('form').send('List-Unsubscribe=One-Click');
      expect(done.status).toBe(200);
    }
    await h.result('two-step', 'leaver');

    expect(subjectsTo('leaver@example.com')).toEqual(['One', 'Receipt']);
    expect(await messageOf('leaver', 'step-2')).toMatchObject({ status: 'skipped', reason: 'address is suppressed' });
    expect((await messageOf('leaver', 'step-1')).events.map((e) => e.type)).toEqual(['unsubscribe']);
    const suppressions = await h.db.query("SELECT scope FROM suppressions WHERE address = 'leaver@example.com'");
    expect(suppressions.rows).toEqual([{ scope: 'marketing' }]);
  });

  test('a flow that says so ends the journey on unsubscribe (reason "unsubscribed")', async () => {
    await h.putFlow(
      'exit-on-unsub',
      flow(
        'Exit Unsub',
        [email('hello', 'Hello'), { id: 'wait', type: 'delay', duration: '3 days' }, email('later', 'Later')],
        { onUnsubscribe: 'exit' },
      ),
    );
    await h.identify('quitter', { email: 'quitter@example.com' });
    await h.track({ userId: 'quitter', event: 'Exit Unsub' });
    await h.env.sleep('1 hour');
    const link = pathOf(
      h.sendgrid.emails.find((e) => e.to === 'quitter@example.com')!.headers['List-Unsubscribe'].slice(1, -1),
    );
    await supertest(h.app).post(link).type('form').send('List-Unsubscribe=One-Click');
    const result = await h.result('exit-on-unsub', 'quitter');
    expect(result.exit).toMatchObject({ reason: 'unsubscribed', detectedBy: 'signal' });
    expect(result.steps.map((s) => s.stepId)).toEqual(['hello', 'wait']);
  });

  /**
   * Fails the next write a statement trigger sees on `table` (when `when` holds for the row),
   * once: a Postgres error half way through applying an engagement fact. A sequence, not a
   * table, counts the failures: it is not rolled back with the failed transaction.
   */
  async function failOnce(name: string, table: string, when: string): Promise<void> {
    await h.db.query(`
      CREATE SEQUENCE ${name}_seq;
      CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF (${when}) AND nextval('${name}_seq') = 1 THEN RAISE EXCEPTION 'injected failure in ${table}'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER ${name} BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}();`);
  }

  test('an unsubscribe that failed half way is applied in full when the person clicks again: the next marketing email is not sent', async () => {
    await h.putFlow(
      'half-way',
      flow('Half Way', [
        email('first', 'First'),
        { id: 'wait', type: 'delay', duration: '1 day' },
        email('second', 'Second'),
      ]),
    );
    await h.identify('halfway', { email: 'halfway@example.com' });
    await h.track({ userId: 'halfway', event: 'Half Way' });
    await h.env.sleep('1 hour');
    const link = pathOf(
      h.sendgrid.emails.find((e) => e.to === 'halfway@example.com')!.headers['List-Unsubscribe'].slice(1, -1),
    );
    // After the dedupe row (message_events) and before the suppression.
    await failOnce('fail_suppression', 'suppressions', "NEW.address = 'halfway@example.com'");

    const failed = await supertest(h.app).post(link).type('form').send('List-Unsubscribe=One-Click');
    expect(failed.status).toBe(500);
    const retried = await supertest(h.app).post(link).type('form').send('List-Unsubscribe=One-Click');
    expect(retried.status).toBe(200);
    await h.result('half-way', 'halfway');

    expect(subjectsTo('halfway@example.com')).toEqual(['First']);
    expect(await messageOf('halfway', 'second')).toMatchObject({ status: 'skipped', reason: 'address is suppressed' });
    expect((await h.db.query("SELECT scope FROM suppressions WHERE address = 'halfway@example.com'")).rows).toEqual([
      { scope: 'marketing' },
    ]);
    expect(
      (await h.db.query("SELECT count(*)::int AS n FROM events WHERE contact_id = 'halfway' AND name = 'Unsubscribed'"))
        .rows,
    ).toEqual([{ n: 1 }]);
  });

  test('a SendGrid bounce whose processing failed at the last write is applied in full when SendGrid retries it', async () => {
    await h.putFlow('bounce-retry', flow('Bounce Retry', [email('mail', 'Hi', { transactional: true })]));
    await h.identify('bouncy', { email: 'bouncy@example.com' });
    await h.track({ userId: 'bouncy', event: 'Bounce Retry' });
    await h.result('bounce-retry', 'bouncy');
    const messageId = (await messageOf('bouncy', 'mail')).id;
    // The contact event is the last write: message_events, the message and the suppression are already done.
    await failOnce('fail_bounce_event', 'events', "NEW.name = 'Email Bounced' AND NEW.contact_id = 'bouncy'");
    const bounce = sgEvent(messageId, 'bounce', { type: 'bounce', reason: '550 no such user' });

    expect((await postSendgrid([bounce])).status).toBe(500); // SendGrid retries on 5xx
    const retry = await postSendgrid([bounce]);
    expect(retry.body).toMatchObject({ recorded: 1, duplicate: 0 });

    expect((await h.db.query("SELECT scope FROM suppressions WHERE address = 'bouncy@example.com'")).rows).toEqual([
      { scope: 'all' },
    ]);
    expect(await messageOf('bouncy', 'mail')).toMatchObject({
      deliveryStatus: 'bounce',
      events: [{ source: 'sendgrid', type: 'bounce' }],
    });
    expect(
      (await h.db.query("SELECT count(*)::int AS n FROM events WHERE contact_id = 'bouncy' AND name = 'Email Bounced'"))
        .rows,
    ).toEqual([{ n: 1 }]);
  });

  test('a forged unsubscribe token is refused', async () => {
    expect(
      (
        await supertest(h.app)
          .post('/u/eyJwIjoidW5zdWJzY3JpYmUiLCJtIjoieCJ9.forged')
          .type('form')
          .send('List-Unsubscribe=One-Click')
      ).status,
    ).toBe(400);
  });
});

describe('Twilio callbacks', () => {
  const signed = (path: string, params: Record<string, string>) =>
    supertest(h.app)
      .post(path)
      .type('form')
      .set(
        'X-Twilio-Signature',
        twilio.getExpectedTwilioSignature('twilio-token', `${TEST_LINKS.publicUrl}${path}`, params),
      )
      .send(new URLSearchParams(params).toString());

  test('status callbacks move the SMS forward (never back); forged ones are refused', async () => {
    await h.putFlow('texting', flow('Text Me', [{ id: 'text', type: 'sms', body: 'Hi', transactional: true }]));
    await h.identify('texted', { phone: '+33612121212' });
    await h.track({ userId: 'texted', event: 'Text Me' });
    await h.result('texting', 'texted');
    const sid = (await h.db.query("SELECT provider_message_id FROM messages WHERE contact_id = 'texted'")).rows[0]
      .provider_message_id as string;

    for (const status of ['sent', 'delivered', 'sent']) {
      const res = await signed('/v1/webhooks/twilio/status', {
        MessageSid: sid,
        MessageStatus: status,
        To: '+33612121212',
        From: '+15550000000',
      });
      expect(res.status).toBe(200);
    }
    expect(await messageOf('texted', 'text')).toMatchObject({ deliveryStatus: 'delivered' });

    const forged = await supertest(h.app)
      .post('/v1/webhooks/twilio/status')
      .type('form')
      .set('X-Twilio-Signature', 'bm9wZQ==')
      .send(`MessageSid=${sid}&MessageStatus=failed`);
    expect(forged.status).toBe(403);
    expect(await messageOf('texted', 'text')).toMatchObject({ deliveryStatus: 'delivered' });
  });

  test('STOP opts the number out of every SMS; START opts it back in', async () => {
    await h.putFlow(
      'sms-promo',
      flow('SMS Promo', [{ id: 'promo', type: 'sms', body: 'Sale!' }], { quietHours: { sms: null } }),
    );
    await h.identify('stopper', { phone: '+33634343434' });
    const stop = await signed('/v1/webhooks/twilio/inbound', {
      From: '+33634343434',
      To: '+15550000000',
      Body: ' stop ',
    });
    expect(stop.status).toBe(200);
    // Confirmed in the contact's language: no locale trait, DEFAULT_LOCALE (English here).
    expect(stop.text).toContain('<Response><Message>You are unsubscribed');

    await h.track({ userId: 'stopper', event: 'SMS Promo' });
    await h.result('sms-promo', 'stopper');
    expect(h.twilio.messages.filter((m) => m.to === '+33634343434')).toEqual([]);

    await signed('/v1/webhooks/twilio/inbound', { From: '+33634343434', To: '+15550000000', Body: 'START' });
    await h.track({ userId: 'stopper', event: 'SMS Promo' });
    await h.result('sms-promo', 'stopper');
    expect(h.twilio.messages.filter((m) => m.to === '+33634343434').map((m) => m.body)).toEqual(['Sale!']);
  });
});
