/**
 * A real browser (Debian's Chromium, driven by playwright-core) on a shop's page served from
 * another origin than Parcours: Segment's analytics.js (`@segment/analytics-next`, bundled with
 * esbuild) sends every call type with a write key, and hand-written code posts `text/plain`
 * with the key in the body, uses sendBeacon, and sends JSON with an Authorization header
 * (CORS preflight). Everything is stored; analytics.js's calls are routed like any library's.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  expectStoredAndRouted,
  INGESTION_KEY,
  parcoursForContracts,
  scenario,
  waitUntilRouted,
} from './helpers/contract-scenario';

/** Where Debian's package puts it (.ci/run installs it when missing). */
const CHROMIUM = '/usr/bin/chromium';

let shop: { url: string; server: Server };
let browser: Browser;
/** Every request Parcours received: method, path and the page's origin. */
const received: { method?: string; path?: string; origin?: string }[] = [];
const parcours = parcoursForContracts((req) =>
  received.push({ method: req.method, path: req.url, origin: req.headers.origin }),
);

/** Segment's analytics.js as a shop's page loads it, built from the npm package. */
async function analyticsJsBundle(): Promise<string> {
  const out = await build({
    stdin: {
      contents:
        "import { AnalyticsBrowser } from '@segment/analytics-next'; window.AnalyticsBrowser = AnalyticsBrowser;",
      resolveDir: __dirname,
      loader: 'js',
    },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

/** The shop's site: a page, analytics.js and the page's script, on its own port (its own origin). */
async function startShop(apiUrl: string): Promise<{ url: string; server: Server }> {
  const files: Record<string, [string, string]> = {
    '/': [
      'text/html',
      `<!doctype html><html><head><title>Shop</title><script>window.PARCOURS = ${JSON.stringify({ api: apiUrl, writeKey: INGESTION_KEY })};</script><script src="/analytics.js"></script><script src="/page.js"></script></head><body>Shop</body></html>`,
    ],
    '/analytics.js': ['text/javascript', await analyticsJsBundle()],
    '/page.js': ['text/javascript', readFileSync(path.join(__dirname, 'helpers', 'browser-page.js'), 'utf8')],
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://shop').pathname];
    res.writeHead(file ? 200 : 404, { 'content-type': file?.[0] ?? 'text/plain' }).end(file?.[1] ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** What test/helpers/browser-page.js puts on the page's window (run with page.evaluate). */
interface ShopPage {
  sendWithAnalyticsJs(calls: unknown[]): Promise<(string | null)[]>;
  sendByHand(): Promise<unknown>;
}

async function openShop(): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(shop.url);
  return page;
}

beforeAll(async () => {
  shop = await startShop(parcours.url);
  browser = await chromium.launch({ executablePath: CHROMIUM });
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => shop?.server.close(resolve));
});

test('analytics.js on a page of another origin: every call type with a write key, each stored once and routed, the visitor merged', async () => {
  const s = scenario('browser');
  const page = await openShop();
  const failures = await page.evaluate(
    (calls) => (globalThis as unknown as ShopPage).sendWithAnalyticsJs(calls),
    s.calls,
  );
  expect(failures).toEqual(s.calls.map(() => null));
  // Cross-origin, at the short paths analytics.js uses.
  expect(new Set(received.filter((r) => r.method === 'POST' && r.origin === shop.url).map((r) => r.path))).toEqual(
    new Set(['/v1/p', '/v1/t', '/v1/i', '/v1/s', '/v1/g', '/v1/a']),
  );

  await expectStoredAndRouted(parcours.h, s);
  await page.close();
});

test('by hand: text/plain with the write key in the body, sendBeacon, and JSON with an Authorization header (preflighted) are all stored', async () => {
  const page = await openShop();
  const before = received.length;
  const sent = await page.evaluate(() => (globalThis as unknown as ShopPage).sendByHand());
  expect(sent).toMatchObject({ plain: { status: 200 }, beacon: true, preflighted: { status: 200 } });

  const stored = await waitUntilRouted(parcours.h, ['browser-text-plain', 'browser-beacon', 'browser-preflighted']);
  expect(stored.get('browser-text-plain')).toMatchObject({
    contact_id: 'anonymous:browser-visitor',
    name: 'Newsletter Signup Viewed',
  });
  expect(stored.get('browser-beacon')).toMatchObject({
    contact_id: 'anonymous:browser-visitor',
    name: 'Page Viewed',
    properties: expect.objectContaining({ url: `${shop.url}/pricing` }),
  });
  // The JSON number past 2^53 is the contact's id to the last digit.
  expect(stored.get('browser-preflighted')).toMatchObject({ contact_id: '98765432109876543210', name: 'Signed Up' });

  // Only the request with an Authorization header needed a preflight.
  const preflights = received
    .slice(before)
    .filter((r) => r.method === 'OPTIONS')
    .map((r) => r.path);
  expect(preflights).toEqual(['/v1/track']);
  await page.close();
});
