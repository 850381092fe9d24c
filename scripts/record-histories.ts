/**
 * `npm run record-histories`: runs the reference journeys on the time-skipping server
 * (real Postgres, real provider clients on fakes) and saves their histories to
 * test/histories/, which test/replay.test.ts replays against the current workflow code.
 *
 * Re-record only on purpose: a history recorded by released code is a journey that may
 * still be running in production, and the current code must keep replaying it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { abandonedCart, cartProperties } from '../test/fixtures/flows';
import { Harness } from '../test/helpers/harness';
import { waitFor } from '../test/helpers/fake-http';

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
  } finally {
    await h.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
