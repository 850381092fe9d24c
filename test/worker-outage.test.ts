/** An accepted event (200) is a promise: with the worker down, the journey runs when the worker comes back. */
import { Harness } from './helpers/harness';
import { abandonedCart, cartProperties } from './fixtures/flows';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start({ runWorker: false });
  await h.putFlow('abandoned-cart', abandonedCart);
});
afterAll(() => h?.stop());

test('events accepted while no worker runs are not lost: the journey runs once the worker is back', async () => {
  await h.identify('patient', { email: 'patient@example.com' });
  const accepted = await h.track({
    userId: 'patient',
    event: 'Checkout Started',
    properties: cartProperties,
    messageId: 'while-down',
  });
  expect(accepted.routing).toBe('done');
  await new Promise((r) => setTimeout(r, 500));
  expect(h.sendgrid.requests).toEqual([]);

  h.startWorker();
  const result = await h.result('abandoned-cart', 'patient');

  expect(result.status).toBe('completed');
  expect(h.sendgrid.emails.map((e) => e.to)).toEqual(['patient@example.com', 'patient@example.com']);
});
