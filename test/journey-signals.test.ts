/**
 * Journeys and the events they receive: a redelivered event counts once, and a wait_for_event
 * whose event was stored but never routed (routing deferred, a Temporal outage) still takes
 * its event branch.
 */
import { insertEvent, markRouted } from '../db/events';
import type { FlowInput } from '../flows/schema';
import { contactEventSignal, type JourneyEvent } from '../flows/journey-messages';
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const subjectsTo = (to: string) => h.sendgrid.emails.filter((e) => e.to === to).map((e) => e.subject);
const now = async () => new Date(await h.env.currentTimeMs()).toISOString();

describe('a redelivered event counts once', () => {
  const twoOrders: FlowInput = {
    name: 'Second order',
    status: 'live',
    trigger: { event: 'Loyalty Started' },
    // Out after the second order: the same order delivered twice must not count as two.
    exitWhen: [{ event: 'Order Completed', count: { op: 'gte', value: 2 } }],
    smartSending: { enabled: false },
    steps: [
      { id: 'wait', type: 'delay', duration: '2 days' },
      { id: 'nudge', type: 'email', subject: 'Your third order?', html: '<p>Hi</p>' },
    ],
  };

  beforeAll(() => h.putFlow('second-order', twoOrders));

  test('one order signalled twice does not fire "count >= 2": the email goes out', async () => {
    await h.identify('once', { email: 'once@example.com' });
    await h.track({ userId: 'once', event: 'Loyalty Started' });
    const order = await h.track({
      userId: 'once',
      event: 'Order Completed',
      messageId: 'order-once-1',
      properties: { total: 10 },
    });
    expect(order.journeys.signalled).toHaveLength(1);
    // Routing retried after losing its "routed" mark: the same stored event is signalled again.
    const again: JourneyEvent = {
      id: order.eventId,
      messageId: 'order-once-1',
      name: 'Order Completed',
      properties: { total: 10 },
      timestamp: await now(),
    };
    await h.journey('second-order', 'once').signal(contactEventSignal, again);
    await h.journey('second-order', 'once').signal(contactEventSignal, again);

    const state = await h.state('second-order', 'once');
    expect(state.exit).toBeUndefined();
    expect(state.signals).toBe(1);

    const result = await h.result('second-order', 'once');
    expect(result.status).toBe('completed');
    expect(subjectsTo('once@example.com')).toEqual(['Your third order?']);
  });

  test('two different orders do fire it: no email', async () => {
    await h.identify('twice', { email: 'twice@example.com' });
    await h.track({ userId: 'twice', event: 'Loyalty Started' });
    await h.track({ userId: 'twice', event: 'Order Completed', messageId: 'order-twice-1' });
    await h.track({ userId: 'twice', event: 'Order Completed', messageId: 'order-twice-2' });

    const result = await h.result('second-order', 'twice');
    expect(result.exit).toMatchObject({ reason: 'flow_filter', detectedBy: 'signal' });
    expect(subjectsTo('twice@example.com')).toEqual([]);
  });
});

describe('wait_for_event checks the stored events before timing out', () => {
  const quiz: FlowInput = {
    name: 'Quiz follow-up',
    status: 'live',
    trigger: { event: 'Quiz Started' },
    smartSending: { enabled: false },
    steps: [
      {
        id: 'wait-finish',
        type: 'wait_for_event',
        event: 'Quiz Finished',
        where: [{ property: 'score', op: 'gte', value: 5 }],
        timeout: '1 day',
        onTimeout: 'reminder',
      },
      { id: 'thanks', type: 'email', subject: 'Well done', html: '<p>Thanks</p>' },
      { id: 'done', type: 'exit' },
      { id: 'reminder', type: 'email', subject: 'Finish your quiz', html: '<p>Come back</p>' },
    ],
  };

  beforeAll(() => h.putFlow('quiz', quiz));

  /** An event accepted and stored whose routing has not happened (Temporal was unreachable). */
  async function storeWithoutRouting(contactId: string, messageId: string, properties: Record<string, unknown>) {
    const { event } = await insertEvent(h.db, {
      messageId,
      type: 'track',
      contactId,
      name: 'Quiz Finished',
      properties,
      occurredAt: await now(),
    });
    // Marked routed, as if its signal had been lost: only the wait's stored check can find it
    // (left unrouted, the router loop would signal it, late, to whatever journey runs then).
    await markRouted(h.db, event.id, { started: [], alreadyInFlow: [], notEntered: [], signalled: [], failed: [] });
  }

  test('an event stored during the wait but never signalled takes the event branch', async () => {
    await h.identify('late', { email: 'late@example.com' });
    await h.track({ userId: 'late', event: 'Quiz Started' });
    await waitFor(async () => (await h.state('quiz', 'late')).waitingUntil, 'the wait to begin');
    await storeWithoutRouting('late', 'quiz-late-1', { score: 8 });

    const result = await h.result('quiz', 'late');
    expect(subjectsTo('late@example.com')).toEqual(['Well done']);
    expect(result.steps[0]).toMatchObject({
      stepId: 'wait-finish',
      outcome: expect.stringContaining('found in stored events'),
    });
  });

  test('a stored event that does not match `where` still times out', async () => {
    await h.identify('low', { email: 'low@example.com' });
    await h.track({ userId: 'low', event: 'Quiz Started' });
    await waitFor(async () => (await h.state('quiz', 'low')).waitingUntil, 'the wait to begin');
    await storeWithoutRouting('low', 'quiz-low-1', { score: 2 });

    const result = await h.result('quiz', 'low');
    expect(subjectsTo('low@example.com')).toEqual(['Finish your quiz']);
    expect(result.steps[0]).toMatchObject({ stepId: 'wait-finish', outcome: 'timed out' });
  });

  test('an event from before the wait began does not count', async () => {
    await h.identify('early', { email: 'early@example.com' });
    await storeWithoutRouting('early', 'quiz-early-0', { score: 9 });
    await h.env.sleep('1 minute');
    await h.track({ userId: 'early', event: 'Quiz Started' });

    await h.result('quiz', 'early');
    expect(subjectsTo('early@example.com')).toEqual(['Finish your quiz']);
  });

  test('the signalled event takes the event branch at once, without waiting for the timeout', async () => {
    await h.identify('quick', { email: 'quick@example.com' });
    await h.track({ userId: 'quick', event: 'Quiz Started' });
    await waitFor(async () => (await h.state('quiz', 'quick')).waitingUntil, 'the wait to begin');
    await h.track({ userId: 'quick', event: 'Quiz Finished', properties: { score: 6, answers: 'x'.repeat(10_000) } });

    const result = await h.result('quiz', 'quick');
    expect(subjectsTo('quick@example.com')).toEqual(['Well done']);
    expect(result.steps[0]).toMatchObject({ outcome: 'Quiz Finished happened' });
  });
});
