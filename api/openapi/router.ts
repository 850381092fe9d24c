/**
 * `GET /openapi.json`: the API's OpenAPI 3.1 document (./document.ts), built once.
 * `GET /docs/api`: the reference page, rendered by Scalar from that document. Its script is
 * served by the API (@scalar/api-reference's standalone bundle), never from a CDN:
 * the page works on a machine without internet access. Public, like /health: the document
 * holds no data, only what the routes accept and answer.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Router } from 'express';
import { notFound } from '../errors';
import { openApiDocument } from './document';
import { REFERENCE_SCRIPT, scalarStandaloneBundle } from './reference-script';

/** The API's version in the document: the /v1 of every path. */
const API_VERSION = '1';

// Relative URLs, so the page works behind a proxy that mounts the API under a prefix. Nothing the
// page asks for leaves this server: no web fonts, no telemetry, no AI agent (all on by Scalar's default).
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parcours API</title>
</head>
<body>
<div id="app"></div>
<script src="api/reference.js"></script>
<script>
Scalar.createApiReference('#app', {
  url: '../openapi.json',
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  showDeveloperTools: 'never',
  hideClientButton: true,
});
</script>
</body>
</html>
`;

/**
 * The standalone bundle's file: beside this module in a build (scripts/build.ts copies it there,
 * so that a deployment does not install Scalar's dependency tree), else in node_modules
 * (development); undefined when neither is there.
 */
function referenceScript(): string | undefined {
  const built = path.join(__dirname, REFERENCE_SCRIPT);
  if (existsSync(built)) return built;
  try {
    return scalarStandaloneBundle();
  } catch {
    return undefined;
  }
}

export function openApiRouter(): Router {
  const router = Router();
  let document: string | undefined;
  router.get('/openapi.json', (_req, res) => {
    document ??= JSON.stringify(openApiDocument(API_VERSION));
    res.type('application/json').send(document);
  });
  router.get('/docs/api', (_req, res) => {
    res.type('html').send(PAGE);
  });
  router.get('/docs/api/reference.js', (_req, res, next) => {
    const file = referenceScript();
    if (!file) return next(notFound('the reference page script (@scalar/api-reference is not installed)'));
    res.sendFile(file, { maxAge: '1h', headers: { 'content-type': 'text/javascript; charset=utf-8' } });
  });
  return router;
}
