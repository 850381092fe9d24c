/**
 * `npm run record-histories`: runs the reference journeys on the time-skipping server
 * (real Postgres, real provider clients on fakes) and saves their histories to
 * test/histories/, which test/replay.test.ts replays against the current workflow code.
 *
 * Before a release changes the workflow, copy the current files to test/histories/archive/
 * (prefixed with the release): a history recorded by released code is a journey that may
 * still be running in production, and the current code must keep replaying it.
 *
 * The other workflow types are recorded by their tests with `RECORD_HISTORIES=1` (see
 * test/helpers/histories.ts), each kind in its folder with its own archive/: campaign
 * (test/campaigns.test.ts), segment-clock and segment-build (test/segments.test.ts),
 * calendar-clock (test/date-triggers.test.ts, test/background.test.ts), flow-status
 * (test/input-flows.test.ts), maintenance (test/maintenance-schedule.test.ts).
 * test/replay-coverage.test.ts fails when a registered workflow type has no recording.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { contactEventSignal, type JourneyEvent } from '../flows/journey-messages';
import { ROTATE_AFTER_HISTORY_EVENTS } from '../workflows/journey';
import { abandonedCart, cartProperties } from '../test/fixtures/flows';
import { Harness } from '../test/helpers/harness';
import { waitFor, zoneWhereLocalHourIs } from '../test/helpers/fake-http';

const OUT = path.join(__dirname, '..', 'test', 'histories');

async function main(): Promise<void> {
  // In the clear: the replay tests replay these without the contacts' keys.
  const h = await Harness.start({ plainPayloads: true });
  // RECORD_ONLY=name[,name]: write only these (a new scenario beside the recordings kept as they are).
  const only = process.env.RECORD_ONLY?.split(',').filter(Boolean);
  const save = async (name: string, flowId: string, contactId: string, runId?: string) => {
    await h.result(flowId, contactId);
    if (only && !only.includes(name)) return;
    const handle = runId
      ? h.env.client.workflow.getHandle(h.journey(flowId, contactId).workflowId, runId)
      : h.journey(flowId, contactId);
    const history = await handle.fetchHistory();
    writeFileSync(path.join(OUT, `${name}.json`), `${historyToJSON(history)}\n`);
    process.stdout.write(`recorded ${name} (${history.events?.length} events)\n`);
  };
  const now = async () => new Date(await h.env.currentTimeMs()).toISOString();
  try {
    // delay_until yearly: a birth date in 1990 waits for the next birthday at 09:00 local.
    await h.putFlow('birthday-wait', {
      name: 'Birthday wait',
      status: 'live',
      trigger: { event: 'Birthday Opt In' },
      smartSending: { enabled: false },
      steps: [
        { id: 'until-birthday', type: 'delay_until', date: 'contact.birthday', yearly: true, at: '09:00' },
        { id: 'wish', type: 'email', subject: 'Happy birthday', html: '<p>Hi</p>' },
      ],
    });
    await h.identify('birthday', { email: 'birthday@example.com', birthday: '1990-12-05', timezone: 'Europe/Paris' });
    await h.track({ userId: 'birthday', event: 'Birthday Opt In', messageId: 'optin-birthday' });
    await save('delay-until-yearly', 'birthday-wait', 'birthday');

    await h.putFlow('abandoned-cart', abandonedCart);
    const checkout = (userId: string) =>
      h.track({ userId, event: 'Checkout Started', properties: cartProperties, messageId: `checkout-${userId}` });
    const order = (userId: string) =>
      h.track({ userId, event: 'Order Completed', properties: { order_id: `o-${userId}` } });

    await h.identify('no-order', { email: 'no-order@example.com', firstName: 'Nora' });
    await checkout('no-order');
    await save('abandoned-cart-no-order', 'abandoned-cart', 'no-order');

    await h.identify('order-after-first', { email: 'oaf@example.com' });
    await checkout('order-after-first');
    await h.env.sleep('2 hours');
    await waitFor(() => h.sendgrid.emails.some((e) => e.to === 'oaf@example.com'), 'the first reminder');
    await order('order-after-first');
    await save('abandoned-cart-order-after-first-email', 'abandoned-cart', 'order-after-first');

    await h.identify('order-first-hour', { email: 'ofh@example.com' });
    await checkout('order-first-hour');
    await h.env.sleep('10 minutes');
    await order('order-first-hour');
    await save('abandoned-cart-order-in-first-hour', 'abandoned-cart', 'order-first-hour');

    // A rejected email (activity failure) followed by an SMS and an exit step.
    await h.putFlow('mixed', {
      name: 'Mixed channels',
      status: 'live',
      trigger: { event: 'Signed Up' },
      steps: [
        { id: 'welcome', type: 'email', subject: 'Welcome', html: '<p>Hi</p>' },
        { id: 'wait', type: 'delay', duration: '3 days' },
        { id: 'text', type: 'sms', body: 'Hi {{ contact.firstName }}' },
        { id: 'done', type: 'exit', reason: 'series finished' },
      ],
    });
    await h.identify('mixed', { email: 'bad@example.com', phone: '+33600000001', firstName: 'Max' });
    await h.http('put', '/v1/contacts/mixed/consent/sms').send({ status: 'subscribed', source: 'checkout' }); // marketing SMS need an opt-in
    h.sendgrid.enqueue({ status: 400, body: { errors: [{ message: 'invalid address' }] } });
    await h.track({ userId: 'mixed', event: 'Signed Up', messageId: 'signup-mixed' });
    await save('mixed-rejected-email-sms-exit', 'mixed', 'mixed');

    // The flow language's branching and profile steps in one journey.
    await h.putFlow('tour', {
      name: 'Flow language tour',
      status: 'live',
      trigger: { event: 'Tour Started' },
      exitWhen: [
        { event: 'Order Completed', where: [{ property: 'cart_id', op: 'equals', value: { fromTrigger: 'cart_id' } }] },
      ],
      smartSending: { enabled: false },
      steps: [
        {
          id: 'plan',
          type: 'split',
          condition: { profile: { property: 'plan', op: 'equals', value: 'pro' } },
          else: 'ab',
        },
        {
          id: 'ab',
          type: 'random_split',
          branches: [
            { name: 'a', percent: 50 },
            { name: 'b', percent: 50 },
          ],
        },
        { id: 'hello', type: 'email', subject: 'Hello', html: '<p>Hi</p>' },
        { id: 'wait-open', type: 'wait_for_event', event: 'Email Opened', timeout: '2 days', onTimeout: 'mark' },
        { id: 'big-cart', type: 'split', condition: { trigger: { property: 'total', op: 'gt', value: 100 } } },
        { id: 'mark', type: 'update_profile', addTags: ['toured'], score: 10 },
        { id: 'crm', type: 'webhook', url: `${h.sendgrid.url}/hooks/crm`, body: '{"id":"{{ contact.id }}"}' },
        { id: 'morning', type: 'delay_until', days: 1, at: '10:00' },
        { id: 'push', type: 'push', title: 'Bye', body: 'See you' },
      ],
    });
    await h.identify('tourist', { email: 'tourist@example.com', plan: 'free' });
    await h.track({ userId: 'tourist', event: 'Tour Started', properties: { cart_id: 'c9', total: 150 } });
    await save('flow-language-tour', 'tour', 'tourist');

    // An SMS held by quiet hours, then by a paused flow, then sent.
    await h.putFlow('night', {
      name: 'Night SMS',
      status: 'live',
      trigger: { event: 'Night Event' },
      steps: [{ id: 'text', type: 'sms', body: 'Morning!' }],
    });
    await h.identify('owl', { phone: '+33600000002', timezone: zoneWhereLocalHourIs(await h.env.currentTimeMs(), 23) });
    await h.http('put', '/v1/contacts/owl/consent/sms').send({ status: 'subscribed', source: 'checkout' });
    await h.track({ userId: 'owl', event: 'Night Event' });
    await h.http('post', '/v1/flows/night/pause');
    await h.env.sleep('12 hours');
    await h.http('post', '/v1/flows/night/activate');
    await save('quiet-hours-and-pause', 'night', 'owl');

    // Every condition feature the workflow evaluates itself, in one journey: an engagement
    // split, the wait_for_event event branch, a flow filter with where, fromTrigger, count and
    // within, an order for another cart (no match), and one order signalled twice (counted once).
    await h.putFlow('conditions', {
      name: 'Conditions tour',
      status: 'live',
      trigger: { event: 'Cart Created' },
      smartSending: { enabled: false },
      exitWhen: [
        {
          event: 'Order Completed',
          where: [
            { property: 'cart_id', op: 'equals', value: { fromTrigger: 'cart_id' } },
            { property: 'total', op: 'gte', value: 50 },
          ],
          count: { op: 'gte', value: 2 },
          within: '7 days',
        },
      ],
      steps: [
        { id: 'hello', type: 'email', subject: 'Your cart', html: '<p>Hi</p>' },
        { id: 'wait-open', type: 'wait_for_event', event: 'Email Opened', timeout: '1 day', onTimeout: 'last' },
        {
          id: 'opened',
          type: 'split',
          condition: { message: 'hello', engaged: 'opened' },
          then: 'vip-wait',
          else: 'last',
        },
        { id: 'vip-wait', type: 'delay', duration: '3 days' },
        { id: 'last', type: 'email', subject: 'Last call', html: '<p>Bye</p>' },
      ],
    });
    await h.identify('shopper', { email: 'shopper@example.com' });
    await h.track({ userId: 'shopper', event: 'Cart Created', properties: { cart_id: 'c1', total: 80 } });
    await waitFor(() => h.sendgrid.emails.some((e) => e.to === 'shopper@example.com'), 'the first email');
    const sent = await waitFor(
      async () => (await h.state('conditions', 'shopper')).steps.find((s) => s.messageId)?.messageId,
      'the message id',
    );
    await h.track({ userId: 'shopper', event: 'Email Opened', properties: { message_id: sent } });
    await waitFor(
      async () => (await h.state('conditions', 'shopper')).currentStep === 'vip-wait',
      'the engaged branch',
    );
    await h.track({ userId: 'shopper', event: 'Order Completed', properties: { cart_id: 'other', total: 90 } });
    const first = await h.track({
      userId: 'shopper',
      event: 'Order Completed',
      messageId: 'shopper-order-1',
      properties: { cart_id: 'c1', total: 80 },
    });
    const again: JourneyEvent = {
      id: first.eventId,
      messageId: 'shopper-order-1',
      name: 'Order Completed',
      properties: { cart_id: 'c1', total: 80 },
      timestamp: await now(),
    };
    await h.journey('conditions', 'shopper').signal(contactEventSignal, again);
    await h.env.sleep('1 hour');
    await h.track({
      userId: 'shopper',
      event: 'Order Completed',
      messageId: 'shopper-order-2',
      properties: { cart_id: 'c1', total: 60 },
    });
    await save('conditions-tour', 'conditions', 'shopper');

    // The goal ends the journey (exitOnGoal).
    await h.putFlow('goal', {
      name: 'Goal exit',
      status: 'live',
      trigger: { event: 'Trial Started' },
      goal: { event: 'Subscription Started', where: [{ property: 'plan', op: 'exists' }], exitOnGoal: true },
      steps: [
        { id: 'wait', type: 'delay', duration: '2 days' },
        { id: 'nudge', type: 'email', subject: 'Subscribe?', html: '<p>Hi</p>' },
      ],
    });
    await h.identify('trial', { email: 'trial@example.com' });
    await h.track({ userId: 'trial', event: 'Trial Started' });
    await h.track({ userId: 'trial', event: 'Subscription Started', properties: { plan: 'pro' } });
    await save('goal-exit', 'goal', 'trial');

    // An unsubscribe ends the journey (onUnsubscribe: exit).
    await h.putFlow('unsub', {
      name: 'Unsubscribe exit',
      status: 'live',
      trigger: { event: 'Newsletter Joined' },
      onUnsubscribe: 'exit',
      steps: [
        { id: 'wait', type: 'delay', duration: '2 days' },
        { id: 'news', type: 'email', subject: 'News', html: '<p>Hi</p>' },
      ],
    });
    await h.identify('leaver', { email: 'leaver@example.com' });
    await h.track({ userId: 'leaver', event: 'Newsletter Joined' });
    await h.track({ userId: 'leaver', event: 'Unsubscribed' });
    await save('unsubscribed-exit', 'unsub', 'leaver');

    // Archiving the flow ends its running journeys.
    await h.putFlow('archived', {
      name: 'Archived exit',
      status: 'live',
      trigger: { event: 'Promo Seen' },
      steps: [
        { id: 'wait', type: 'delay', duration: '2 days' },
        { id: 'promo', type: 'email', subject: 'Promo', html: '<p>Hi</p>' },
      ],
    });
    await h.identify('promo', { email: 'promo@example.com' });
    await h.track({ userId: 'promo', event: 'Promo Seen' });
    await h.http('post', '/v1/flows/archived/archive');
    await save('archived-exit', 'archived', 'promo');

    // Audience conditions, which the workflow cannot decide and leaves to its activities: a
    // split on a segment, and a flow filter on a sum ("ordered 100 or more in 30 days") that
    // two orders cross together during the delay.
    await h
      .http('post', '/v1/segments')
      .send({ id: 'vip', name: 'VIP', condition: { profile: { property: 'vip', op: 'equals', value: true } } });
    await waitFor(
      async () => (await h.http('get', '/v1/segments/vip')).body.status === 'ready',
      'the segment to be built',
    );
    await h.putFlow('audience', {
      name: 'Audience conditions',
      status: 'live',
      trigger: { event: 'Audience Day' },
      smartSending: { enabled: false },
      exitWhen: [{ event: 'Order Completed', within: '30 days', sum: { property: 'total', op: 'gte', value: 100 } }],
      steps: [
        { id: 'is-vip', type: 'split', condition: { segment: 'vip' }, then: 'vip-mail', else: 'mail' },
        { id: 'vip-mail', type: 'email', subject: 'For our VIPs', html: '<p>Hi</p>', next: 'wait' },
        { id: 'mail', type: 'email', subject: 'For you', html: '<p>Hi</p>' },
        { id: 'wait', type: 'delay', duration: '2 days' },
        { id: 'last', type: 'email', subject: 'Last call', html: '<p>Bye</p>' },
      ],
    });
    await h.identify('vera', { email: 'vera@example.com', vip: true });
    await waitFor(
      async () => ((await h.http('get', '/v1/contacts/vera')).body.segments ?? []).length > 0,
      'vera in the segment',
    );
    await h.track({ userId: 'vera', event: 'Audience Day' });
    await waitFor(async () => (await h.state('audience', 'vera')).currentStep === 'wait', 'the delay');
    await h.track({ userId: 'vera', event: 'Order Completed', properties: { total: 60 } });
    await h.track({ userId: 'vera', event: 'Order Completed', properties: { total: 45 } });
    await save('audience-conditions', 'audience', 'vera');

    // Enough signals to continue as new; then the order ends the journey in the new run.
    await h.putFlow('busy', {
      name: 'Busy contact',
      status: 'live',
      trigger: { event: 'Browse Started' },
      exitWhen: [{ event: 'Order Completed' }],
      steps: [
        { id: 'wait-30d', type: 'delay', duration: '30 days' },
        { id: 'nudge', type: 'email', subject: 'Still looking?', html: '<p>Hi</p>' },
      ],
    });
    await h.identify('busy', { email: 'busy@example.com' });
    await h.track({ userId: 'busy', event: 'Browse Started' });
    const busy = h.journey('busy', 'busy');
    const firstRunId = (await busy.describe()).runId;
    const base = await h.env.currentTimeMs();
    // Signals until the run continues as new, with a quiet moment now and then: a run can
    // only continue as new when no signal is pending.
    for (let i = 0; (await busy.describe()).runId === firstRunId; i += 1) {
      if (i > ROTATE_AFTER_HISTORY_EVENTS * 4) throw new Error('the journey never continued as new');
      await busy.signal(contactEventSignal, {
        id: 9_000_000 + i,
        messageId: `busy-view-${i}`,
        name: 'Product Viewed',
        properties: {},
        timestamp: new Date(base + i).toISOString(),
      });
      if (i % 25 === 24) await new Promise((r) => setTimeout(r, 300));
      // On the time-skipping server the handover showed up only after a query reached the run.
      if (i % 100 === 99) await h.state('busy', 'busy');
    }
    const busyOrder = await h.track({ userId: 'busy', event: 'Order Completed', messageId: 'busy-order' });
    // Routing signals the run it recorded; the current run gets it straight (a redelivery counts once).
    await busy.signal(contactEventSignal, {
      id: busyOrder.eventId,
      messageId: 'busy-order',
      name: 'Order Completed',
      properties: {},
      timestamp: await now(),
    });
    await save('continue-as-new-first-run', 'busy', 'busy', firstRunId);
    await save('continue-as-new-last-run', 'busy', 'busy');

    // wait_for_event on Email Opened while another message's open arrives first, then the journey's own.
    await h.putFlow('open-thanks', {
      name: 'Open thanks',
      status: 'live',
      trigger: { event: 'News Sent' },
      smartSending: { enabled: false },
      steps: [
        { id: 'news', type: 'email', subject: 'News', html: '<p>News</p>' },
        { id: 'wait-open', type: 'wait_for_event', event: 'Email Opened', timeout: '2 days', onTimeout: 'end' },
        { id: 'thanks', type: 'email', subject: 'Thanks for reading', html: '<p>Thanks</p>' },
        { id: 'end', type: 'exit' },
      ],
    });
    await h.identify('opener', { email: 'opener@example.com' });
    await h.track({ userId: 'opener', event: 'News Sent', messageId: 'news-opener' });
    const news = await waitFor(async () => {
      const { rows } = await h.db.query<{ id: string }>(
        "SELECT id FROM messages WHERE contact_id = 'opener' AND step_id = 'news' AND status = 'sent'",
      );
      return rows[0]?.id;
    }, 'the news email');
    await h.track({ userId: 'opener', event: 'Email Opened', properties: { message_id: 'another-flows-message' } });
    await h.track({ userId: 'opener', event: 'Email Opened', properties: { message_id: news } });
    await save('wait-for-own-email-open', 'open-thanks', 'opener');
  } finally {
    await h.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
