/**
 * Runs in Chromium, on a page served from another origin than Parcours: what a shop's web
 * page does. `window.PARCOURS` ({ api, writeKey }) is set by the page; `AnalyticsBrowser` is
 * Segment's analytics.js 2.0 (`@segment/analytics-next`) bundled with esbuild.
 */
/* global window, document, fetch, navigator, btoa, AnalyticsBrowser */

/** The scenario's calls through analytics.js pointed at Parcours; resolves with each call's delivery error, or null. */
window.sendWithAnalyticsJs = async (calls) => {
  const { api, writeKey } = window.PARCOURS;
  const [analytics] = await AnalyticsBrowser.load(
    {
      writeKey,
      // The settings analytics.js would fetch from Segment's CDN: only the Segment.io
      // destination, with Parcours as its API host.
      cdnSettings: {
        integrations: {
          'Segment.io': {
            apiKey: writeKey,
            apiHost: `${new URL(api).host}/v1`,
            protocol: new URL(api).protocol.replace(':', ''),
          },
        },
      },
    },
    { initialPageview: false },
  );
  const failures = [];
  // One call at a time, in order, as a visitor's clicks come.
  for (const call of calls) {
    const options = { messageId: call.messageId, ...(call.anonymousId ? { anonymousId: call.anonymousId } : {}) };
    let ctx;
    if (call.type === 'page') ctx = await analytics.page(call.name, call.properties, options);
    else if (call.type === 'screen') ctx = await analytics.screen(call.name, call.properties, options);
    else if (call.type === 'track') ctx = await analytics.track(call.event, call.properties, options);
    else if (call.type === 'identify') ctx = await analytics.identify(call.userId, call.traits, options);
    else if (call.type === 'group') ctx = await analytics.group(call.groupId, call.traits, options);
    else if (call.type === 'alias') ctx = await analytics.alias(call.userId, call.previousId, options);
    const failed = ctx.failedDelivery();
    failures.push(failed ? `${call.type} ${call.messageId}: ${failed.reason}` : null);
  }
  return failures;
};

/**
 * The three ways a hand-written page posts an event: a simple `text/plain` fetch with the
 * write key in the body (no preflight), navigator.sendBeacon, and JSON with an Authorization
 * header (a CORS preflight first). Resolves with what the page could see of each.
 */
window.sendByHand = async () => {
  const { api, writeKey } = window.PARCOURS;
  const answer = async (res) => ({ status: res.status, body: await res.json() });
  const plain = await fetch(`${api}/v1/t`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain' },
    body: JSON.stringify({
      writeKey,
      anonymousId: 'browser-visitor',
      event: 'Newsletter Signup Viewed',
      messageId: 'browser-text-plain',
    }),
  }).then(answer);
  const beacon = navigator.sendBeacon(
    `${api}/v1/p`,
    JSON.stringify({
      writeKey,
      anonymousId: 'browser-visitor',
      name: 'Pricing',
      properties: { url: `${document.location.origin}/pricing` },
      messageId: 'browser-beacon',
    }),
  );
  // The id is a JSON number past 2^53, written out as text: it must be stored as sent.
  const preflighted = await fetch(`${api}/v1/track`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Basic ${btoa(`${writeKey}:`)}` },
    body: '{"userId": 98765432109876543210, "event": "Signed Up", "messageId": "browser-preflighted"}',
  }).then(answer);
  return { plain, beacon, preflighted };
};
