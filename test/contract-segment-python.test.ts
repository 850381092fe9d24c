/**
 * Segment's Python library (`segment-analytics-python`, installed into .tools/python by
 * `npm run tools:install`) run as a child process with its defaults, host pointed at
 * Parcours: every call type stored and routed, `"anonymousId": null` beside a userId
 * accepted, and a numeric userId above 2^53 kept exactly.
 */
import { SEGMENT_PYTHON } from '../scripts/python-tools';
import {
  expectStoredAndRouted,
  INGESTION_KEY,
  parcoursForContracts,
  scenario,
  waitUntilRouted,
} from './helpers/contract-scenario';
import { attemptsPerMessage, type PythonCall, sendWithPython } from './helpers/python-client';

/** Every request that reached Parcours, as `METHOD path`. */
const requests: string[] = [];
const parcours = parcoursForContracts((req) => requests.push(`${req.method} ${req.url}`));
beforeEach(() => {
  requests.length = 0;
});

const send = (calls: PythonCall[]) => sendWithPython('segment', SEGMENT_PYTHON, parcours.url, INGESTION_KEY, calls);

test('every call type through analytics.flush(): each stored once and routed, the visitor merged; anonymousId null accepted', async () => {
  const s = scenario('segment-python');
  const run = await send(s.calls);
  expect(run.errors).toEqual([]);
  // Each batch posted once: the answer was taken for a success the first time.
  expect(attemptsPerMessage(run)).toEqual(Object.fromEntries(s.calls.map((c) => [c.messageId, 1])));
  expect(requests).toEqual(run.sent.map(() => 'POST /v1/batch'));
  // What sets this library apart: `"anonymousId": null` beside each userId sent alone.
  const screen = run.sent.flatMap((body) => body.batch).find((m) => m.type === 'screen');
  expect(screen).toMatchObject({ userId: s.userId, anonymousId: null });

  await expectStoredAndRouted(parcours.h, s);
});

test('a numeric userId above 2^53 is stored exactly as sent', async () => {
  const call: PythonCall = {
    type: 'track',
    messageId: 'segment-python-big-id',
    userId: '12345678901234567890',
    userIdAsNumber: true,
    event: 'Signed Up',
    properties: { plan: 'free' },
  };
  const run = await send([call]);
  expect(run.errors).toEqual([]);
  // The library turns the int into its decimal text; a rounding parser would still lose it.
  expect(run.sent[0].batch[0].userId).toBe('12345678901234567890');

  const stored = await waitUntilRouted(parcours.h, [call.messageId]);
  expect(stored.get(call.messageId)).toMatchObject({ contact_id: '12345678901234567890', name: 'Signed Up' });
  expect((await parcours.h.http('get', '/v1/contacts/12345678901234567890')).status).toBe(200);
});
