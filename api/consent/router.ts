/**
 * Public routes behind the links in our messages, no login: unsubscribe (RFC 8058 one-click
 * POST, and a page with a confirm button for GET, since link scanners prefetch GETs), the open
 * pixel and click redirects. Tokens are signed (engagement/tokens.ts).
 */
import express, { Router } from 'express';
import { verifyLink } from '../../engagement/tokens';
import { recordEngagement } from '../../engagement/record';
import type { LinkSettings } from '../../engagement/links';
import type { IngestDeps } from '../events/ingest';

// 1x1 transparent GIF.
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head>` +
  `<body style="font-family:sans-serif;max-width:32rem;margin:4rem auto">${body}</body></html>`;

export function consentRouter(deps: IngestDeps & { links: LinkSettings }): Router {
  const router = Router();
  router.use('/u', express.urlencoded({ extended: false, limit: '4kb' }));

  router.get('/u/:token', (req, res) => {
    if (!verifyLink(deps.links.secret, req.params.token, 'unsubscribe')) return void res.status(400).type('html').send(page('Invalid link', '<p>This unsubscribe link is not valid.</p>'));
    res.type('html').send(page('Unsubscribe', `<form method="post"><p>Stop receiving marketing emails at this address?</p><button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>`));
  });

  // Idempotent: a second click (or the mail client's one-click POST after the footer link) changes nothing.
  router.post('/u/:token', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'unsubscribe');
    if (!claims) return void res.status(400).type('html').send(page('Invalid link', '<p>This unsubscribe link is not valid.</p>'));
    await recordEngagement(deps, { message: claims.m, source: 'unsubscribe', sourceEventId: claims.m, type: 'unsubscribe', occurredAt: new Date().toISOString(), data: { via: req.body?.['List-Unsubscribe'] === 'One-Click' ? 'one-click' : 'link' } });
    res.type('html').send(page('Unsubscribed', '<p>You are unsubscribed: no more marketing emails will be sent to this address.</p>'));
  });

  // Always a 200 GIF, never cached: a bad token must not show a broken image.
  router.get('/t/o/:token', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'open');
    if (claims) await recordEngagement(deps, { message: claims.m, source: 'tracking', sourceEventId: `open:${claims.m}`, type: 'open', occurredAt: new Date().toISOString(), data: {} }).catch(() => undefined);
    res.set('Cache-Control', 'no-store, max-age=0').type('gif').send(PIXEL);
  });

  // Redirects only to the URL signed into the token at send time: no open redirect.
  router.get('/t/c/:token', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'click');
    if (!claims?.u || !/^https?:\/\//.test(claims.u)) return void res.status(400).type('html').send(page('Invalid link', '<p>This link is not valid.</p>'));
    await recordEngagement(deps, { message: claims.m, source: 'tracking', sourceEventId: `click:${claims.m}:${claims.u}`, type: 'click', occurredAt: new Date().toISOString(), data: { url: claims.u } }).catch(() => undefined);
    res.redirect(302, claims.u);
  });

  return router;
}
