/**
 * GET /v1/contacts/:id/journeys shows where each running journey stands now (its step, when it next
 * wakes, the event it waits for), asked of the journey workflow on the time-skipping server; with the
 * worker down it still answers promptly, from the step last seen.
 */
import { contactJourneysAnswer } from '../api/openapi/answers';
import type { FlowInput } from '../flows/schema';
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';
import { abandonedCart, cartProperties } from './fixtures/flows';

let h: Harness;
const HOUR = 3_600_000;

beforeAll(async () => {
  h = await Harness.start();
  await h.putFlow('abandoned-cart', abandonedCart);
});
afterAll(() => h?.stop());

interface Shown {
  status: string;
  currentStep: string | null;
  nextWakeAt: string | null;
  waitingFor: string | null;
  live: boolean | null;
}
const journeysOf = async (contactId: string): Promise<Shown[]> => {
  const res = await h.http('get', `/v1/contacts/${contactId}/journeys`);
  expect(res.status).toBe(200);
  // The documented answer schema (OpenAPI) holds for running and ended journeys alike.
  expect(contactJourneysAnswer.safeParse(res.body).error).toBeUndefined();
  return res.body.journeys;
};
const checkout = async (userId: string) => {
  await h.identify(userId, { email: `${userId}@example.com` });
  await h.track({ userId, event: 'Checkout Started', properties: cartProperties });
};
const atStep = (flowId: string, contactId: string, step: string) =>
  waitFor(async () => (await h.state(flowId, contactId)).currentStep === step, `${contactId} at ${step}`);

test('an abandoned cart shows its delay and wake-up, then the next delay after the first email, then no wake-up', async () => {
  const start = await h.env.currentTimeMs();
  await checkout('ada');
  await atStep('abandoned-cart', 'ada', 'wait-1h');

  const [waiting] = await journeysOf('ada');
  expect(waiting).toMatchObject({ status: 'running', currentStep: 'wait-1h', live: true, waitingFor: null });
  // The server's clock at checkout plus the hour (the request itself takes a moment of workflow time).
  const firstWake = Date.parse(waiting.nextWakeAt!) - start;
  expect(firstWake).toBeGreaterThanOrEqual(HOUR);
  expect(firstWake).toBeLessThan(HOUR + 60_000);

  await h.env.sleep('2 hours');
  await waitFor(() => h.sendgrid.emails.some((e) => e.to === 'ada@example.com'), 'the first reminder');
  await atStep('abandoned-cart', 'ada', 'wait-24h');
  const [afterEmail] = await journeysOf('ada');
  expect(afterEmail).toMatchObject({ status: 'running', currentStep: 'wait-24h', live: true });
  // The first email went out at the hour; the second delay ends 24 hours after it.
  const secondWake = Date.parse(afterEmail.nextWakeAt!) - start;
  expect(secondWake).toBeGreaterThanOrEqual(25 * HOUR);
  expect(secondWake).toBeLessThan(25 * HOUR + 60_000);

  await h.result('abandoned-cart', 'ada');
  const [ended] = await journeysOf('ada');
  // Ended: nothing pending, nothing asked of Temporal; currentStep stays the step it ended at, as before.
  expect(ended).toMatchObject({
    status: 'completed',
    currentStep: 'reminder-2',
    nextWakeAt: null,
    waitingFor: null,
    live: null,
  });
});

test('a wait for an event shows the event awaited and when the wait gives up', async () => {
  const trial: FlowInput = {
    name: 'Trial',
    status: 'live',
    trigger: { event: 'Trial Started' },
    steps: [
      { id: 'wait-activation', type: 'wait_for_event', event: 'Feature Used', timeout: '2 days', onTimeout: 'nudge' },
      { id: 'end', type: 'exit' },
      { id: 'nudge', type: 'email', subject: 'Try it', html: '<p>Try it</p>' },
    ],
  };
  await h.putFlow('trial', trial);
  await h.identify('cy', { email: 'cy@example.com' });
  const start = await h.env.currentTimeMs();
  await h.track({ userId: 'cy', event: 'Trial Started' });
  await atStep('trial', 'cy', 'wait-activation');

  const [waiting] = await journeysOf('cy');
  expect(waiting).toMatchObject({ currentStep: 'wait-activation', waitingFor: 'Feature Used', live: true });
  const wake = Date.parse(waiting.nextWakeAt!) - start;
  expect(wake).toBeGreaterThanOrEqual(48 * HOUR);
  expect(wake).toBeLessThan(48 * HOUR + 60_000);
});

// Last: the worker cannot run again once stopped.
test('with the worker down the route answers promptly with the step last seen, marked not live', async () => {
  await checkout('bo');
  await atStep('abandoned-cart', 'bo', 'wait-1h');
  expect((await journeysOf('bo'))[0]).toMatchObject({ currentStep: 'wait-1h', live: true });

  await h.stopWorker();
  const asked = Date.now();
  const [stored] = await journeysOf('bo');
  expect(Date.now() - asked).toBeLessThan(5_000);
  expect(stored).toMatchObject({ status: 'running', currentStep: 'wait-1h', nextWakeAt: null, live: false });
});
