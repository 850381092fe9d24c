/**
 * RudderStack's Python SDK 2.x (`rudder-sdk-python`, module `rudderstack.analytics`, installed
 * into .tools by `npm run tools:install`) with its defaults (gzip), only the data plane URL
 * pointed at Parcours. It takes only a 200 as success: any other answer without an error
 * `code` raised KeyError, and it retried each batch for minutes before calling on_error,
 * though the events were stored. Every call type goes in batches to /v1/batch.
 */
import { RUDDERSTACK_PYTHON } from '../scripts/python-tools';
import { expectStoredAndRouted, INGESTION_KEY, parcoursForContracts, scenario } from './helpers/contract-scenario';
import { attemptsPerMessage, sendWithPython } from './helpers/python-client';

/** Every request that reached Parcours, as `METHOD path content-encoding`. */
const requests: string[] = [];
const parcours = parcoursForContracts((req) =>
  requests.push(`${req.method} ${req.url} ${req.headers['content-encoding'] ?? 'identity'}`),
);

test('every call type (track, identify… in gzipped batches): on_error never called, no batch sent twice, each call stored once and routed', async () => {
  const s = scenario('rudderstack-python');
  const run = await sendWithPython('rudderstack', RUDDERSTACK_PYTHON, parcours.url, INGESTION_KEY, s.calls);
  expect(run.errors).toEqual([]);
  expect(attemptsPerMessage(run)).toEqual(Object.fromEntries(s.calls.map((c) => [c.messageId, 1])));
  // Counted at the server too: as many requests as the SDK made batches, with its default gzip.
  expect(run.sent.length).toBeGreaterThan(0);
  expect(requests).toEqual(run.sent.map(() => 'POST /v1/batch gzip'));

  await expectStoredAndRouted(parcours.h, s);
});
