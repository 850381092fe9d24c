/**
 * Segment's own Node library (`@segment/analytics-node`), with its default options and only
 * `host` pointed at Parcours: every call type, sent in one batch, stored and routed.
 */
import { Analytics } from '@segment/analytics-node';
import {
  expectStoredAndRouted,
  INGESTION_KEY,
  parcoursForContracts,
  scenario,
  type ContractCall,
} from './helpers/contract-scenario';

const parcours = parcoursForContracts();

/** Sends one call; resolves with the error the library reports for it (undefined: delivered). */
function send(analytics: Analytics, call: ContractCall): Promise<unknown> {
  return new Promise((resolve) => {
    const done = (err?: unknown) => resolve(err);
    // Each call goes in as the caller writes it; the library ignores the `type` beside it.
    switch (call.type) {
      case 'page':
        return analytics.page(call, done);
      case 'screen':
        return analytics.screen(call, done);
      case 'track':
        return analytics.track(call, done);
      case 'identify':
        return analytics.identify(call, done);
      case 'group':
        return analytics.group(call, done);
      case 'alias':
        return analytics.alias(call, done);
    }
  });
}

test('track, identify, page, screen, group and alias in one batch: each stored once and routed, the visitor merged', async () => {
  const s = scenario('segment-node');
  const analytics = new Analytics({ writeKey: INGESTION_KEY, host: parcours.url });
  const failures: unknown[] = [];
  analytics.on('error', (err) => failures.push(err));

  // The default flushAt (15) holds all eight calls; closing sends them as one batch.
  const delivered = Promise.all(s.calls.map((call) => send(analytics, call)));
  await analytics.closeAndFlush();
  expect(await delivered).toEqual(s.calls.map(() => undefined));
  expect(failures).toEqual([]);

  await expectStoredAndRouted(parcours.h, s);
});
