/**
 * RudderStack's Node SDK (`@rudderstack/rudder-sdk-node`) with its defaults, only the data
 * plane URL pointed at Parcours: it gzips every batch and its HTTP client labels the body
 * `application/x-www-form-urlencoded`. Every call type stored and routed.
 */
import Analytics from '@rudderstack/rudder-sdk-node';
import {
  expectStoredAndRouted,
  INGESTION_KEY,
  parcoursForContracts,
  scenario,
  type ContractCall,
} from './helpers/contract-scenario';

/** The headers of each request the SDK made, to be sure the defaults under test were used. */
const sent: { method?: string; path?: string; encoding?: string; type?: string }[] = [];
const parcours = parcoursForContracts((req) =>
  sent.push({
    method: req.method,
    path: req.url,
    encoding: req.headers['content-encoding'],
    type: req.headers['content-type'],
  }),
);

/** What a failed request answered (the SDK's errors are axios errors), readable in a failure. */
const answerOf = (err: unknown) => {
  const response = (err as { response?: { status: number; data: unknown } } | undefined)?.response;
  return response ? { status: response.status, body: response.data } : String(err);
};

/** Sends one call; resolves with the error the SDK reports for it (undefined: delivered). */
function send(rudder: Analytics, call: ContractCall): Promise<unknown> {
  return new Promise((resolve) => {
    const done = (err?: unknown) => resolve(err === undefined ? undefined : answerOf(err));
    // Each call goes in as the caller writes it; the SDK sets `type` itself.
    switch (call.type) {
      case 'page':
        return rudder.page(call, done);
      case 'screen':
        return rudder.screen(call, done);
      case 'track':
        return rudder.track(call, done);
      case 'identify':
        return rudder.identify(call, done);
      case 'group':
        return rudder.group(call, done);
      case 'alias':
        return rudder.alias(call, done);
    }
  });
}

test('every call type with the SDK defaults (gzip, form content type): each stored once and routed, the visitor merged', async () => {
  const s = scenario('rudderstack');
  const failures: unknown[] = [];
  // errorHandler only collects what the SDK would otherwise throw from its own flushes.
  const rudder = new Analytics(INGESTION_KEY, {
    dataPlaneUrl: parcours.url,
    logLevel: 'error',
    errorHandler: (err) => failures.push(answerOf(err)),
  });

  const delivered = Promise.all(s.calls.map((call) => send(rudder, call)));
  await rudder.flush();
  expect(await delivered).toEqual(s.calls.map(() => undefined));
  expect(failures).toEqual([]);
  expect(sent.length).toBeGreaterThan(0);
  expect(sent).toEqual(
    sent.map(() => ({
      method: 'POST',
      path: '/v1/batch',
      encoding: 'gzip',
      type: 'application/x-www-form-urlencoded',
    })),
  );

  await expectStoredAndRouted(parcours.h, s);
});
