/**
 * Win-back at day 90 on the real servers (Postgres, the time-skipping Temporal server, the
 * worker, the router loop). First the "obvious" flow a user writes (trigger Order Completed,
 * wait 90 days, exit on a later order), then the inactivity trigger built on the segments'
 * time-based entries.
 */
import { Harness } from './helpers/harness';

let h: Harness;
const DAY = 86_400_000;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const emailsTo = (email: string) => h.sendgrid.emails.filter((e) => e.to === email);
const journeysOf = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${contactId}/journeys`)).body.journeys as { flowId: string; status: string; exitReason: string | null; triggerEventId: number; startedAt: string }[];

test('the obvious flow: exiting on its own trigger is refused at save, pointing to the inactivity trigger', async () => {
  const res = await h.http('put', '/v1/flows/naive-winback').send({
    name: 'Naive win-back',
    status: 'live',
    trigger: { event: 'Order Completed' },
    exitWhen: [{ event: 'Order Completed' }],
    steps: [
      { id: 'wait-90', type: 'delay', duration: '90 days' },
      { id: 'miss-you', type: 'email', subject: 'We miss you', html: '<p>Come back</p>' },
    ],
  });
  expect(res.status).toBe(400);
  expect(res.body.error.issues).toEqual([{ path: ['exitWhen', 0], message: expect.stringContaining('"inactivity": { "event": "Order Completed", "for": "90 days" }') }]);
});

test('a flow triggered by an order that exits on another order: the second order ends the first journey and starts the next one', async () => {
  await h.putFlow('order-then-wait', {
    name: 'Order, then wait',
    status: 'live',
    trigger: { event: 'Order Completed' },
    exitWhen: [{ event: 'Order Completed', where: [{ property: 'order_id', op: 'not_equals', value: { fromTrigger: 'order_id' } }] }],
    smartSending: { enabled: false },
    steps: [
      { id: 'wait-90', type: 'delay', duration: '90 days' },
      { id: 'miss-you', type: 'email', subject: 'We miss you', html: '<p>Come back</p>' },
    ],
  });
  await h.identify('twice', { email: 'twice@example.com' });
  const first = await h.track({ userId: 'twice', event: 'Order Completed', properties: { order_id: 'a', total: 20 }, messageId: 'twice-o1' });
  expect(first.journeys.started).toHaveLength(1);
  await h.env.sleep(30 * DAY);
  const second = await h.track({ userId: 'twice', event: 'Order Completed', properties: { order_id: 'b', total: 30 }, messageId: 'twice-o2' });
  // Before the fix this answered alreadyInFlow (the first journey had not finished exiting)
  // and the contact was never re-armed.
  expect(second.journeys.alreadyInFlow).toEqual([]);
  expect(second.journeys.started).toHaveLength(1);
  await h.env.sleep(89 * DAY);
  expect(emailsTo('twice@example.com')).toEqual([]);
  const result = await h.result('order-then-wait', 'twice');
  expect(result.status).toBe('completed');
  expect(emailsTo('twice@example.com').map((e) => e.subject)).toEqual(['We miss you']);
  const journeys = await journeysOf('twice');
  expect(journeys.map((j) => [j.status, j.exitReason]).sort()).toEqual([['completed', null], ['exited', 'flow_filter']]);
});
