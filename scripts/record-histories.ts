/**
 * `npm run record-histories`: runs the reference journeys on the time-skipping server
 * (real Postgres, real provider clients on fakes) and saves their histories to
 * test/histories/, which test/replay.test.ts replays against the current workflow code.
 *
 * Before a release changes the workflow, copy the current files to test/histories/archive/
 * (prefixed with the release): a history recorded by released code is a journey that may
 * still be running in production, and the current code must keep replaying it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { abandonedCart, cartProperties } from '../test/fixtures/flows';
import { Harness } from '../test/helpers/harness';
import { waitFor, zoneWhereLocalHourIs } from '../test/helpers/fake-http';

const OUT = path.join(__dirname, '..', 'test', 'histories');

async function main(): Promise<void> {
  const h = await Harness.start();
  const save = async (name: string, flowId: string, contactId: string) => {
    await h.result(flowId, contactId);
    const history = await h.journey(flowId, contactId).fetchHistory();
    writeFileSync(path.join(OUT, `${name}.json`), `${historyToJSON(history)}\n`);
    process.stdout.write(`recorded ${name} (${history.events?.length} events)\n`);
  };
  try {
    await h.putFlow('abandoned-cart', abandonedCart);
    const checkout = (userId: string) => h.track({ userId, event: 'Checkout Started', properties: cartProperties, messageId: `checkout-${userId}` });
    const order = (userId: string) => h.track({ userId, event: 'Order Completed', properties: { order_id: `o-${userId}` } });

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
    h.sendgrid.enqueue({ status: 400, body: { errors: [{ message: 'invalid address' }] } });
    await h.track({ userId: 'mixed', event: 'Signed Up', messageId: 'signup-mixed' });
    await save('mixed-rejected-email-sms-exit', 'mixed', 'mixed');

    // The flow language's branching and profile steps in one journey.
    await h.putFlow('tour', {
      name: 'Flow language tour',
      status: 'live',
      trigger: { event: 'Tour Started' },
      exitWhen: [{ event: 'Order Completed', where: [{ property: 'cart_id', op: 'equals', value: { fromTrigger: 'cart_id' } }] }],
      smartSending: { enabled: false },
      steps: [
        { id: 'plan', type: 'split', condition: { profile: { property: 'plan', op: 'equals', value: 'pro' } }, else: 'ab' },
        { id: 'ab', type: 'random_split', branches: [{ name: 'a', percent: 50 }, { name: 'b', percent: 50 }] },
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
    await h.putFlow('night', { name: 'Night SMS', status: 'live', trigger: { event: 'Night Event' }, steps: [{ id: 'text', type: 'sms', body: 'Morning!' }] });
    await h.identify('owl', { phone: '+33600000002', timezone: zoneWhereLocalHourIs(await h.env.currentTimeMs(), 23) });
    await h.track({ userId: 'owl', event: 'Night Event' });
    await h.http('post', '/v1/flows/night/pause');
    await h.env.sleep('12 hours');
    await h.http('post', '/v1/flows/night/activate');
    await save('quiet-hours-and-pause', 'night', 'owl');
  } finally {
    await h.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
