/**
 * The OpenAPI 3.1 document, generated from the route list (./routes.ts) and the zod schemas it
 * names, with zod-openapi (zod v4's JSON Schema output, which is OpenAPI 3.1's dialect).
 * Request schemas are documented as they are read (`io: input`: defaults optional, numbers
 * from the query as text), answers as they are written.
 */
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import { z } from 'zod';
import { condition } from '../../flows/schema';
import { errorAnswer } from './answers';
import { ROUTES, type Answer, type RouteDoc } from './routes';

/** `/v1/flows/:id` as OpenAPI writes it: `/v1/flows/{id}`. */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, '{$1}');

const AUTH_TEXT: Record<RouteDoc['auth'], string> = {
  admin: 'Admin key (API_KEYS).',
  write: 'Write key (WRITE_KEYS) or admin key; a browser may send it as `writeKey` in the body.',
  public: 'No key: anyone may call it (links in messages verify their signed token, webhooks their signature).',
};
// A key is a Bearer token, or the Basic user name with an empty password (Segment's libraries).
const SECURITY: Record<RouteDoc['auth'], Record<string, string[]>[]> = {
  admin: [{ bearer: [] }, { basic: [] }],
  write: [{ bearer: [] }, { basic: [] }],
  public: [],
};

const content = (answer: Answer) =>
  answer.schema
    ? { 'application/json': { schema: answer.schema } }
    : answer.type
      ? { [answer.type]: { schema: z.string() } }
      : undefined;

/** The answers every route may give besides its own: errors, as JSON. */
function errors(route: RouteDoc): Record<string, { description: string; content?: object }> {
  const json = { 'application/json': { schema: errorAnswer } };
  // The pages of links in messages answer their errors as pages.
  if (route.tag === 'Links') return { '4XX': { description: 'a bad or expired link' } };
  return {
    '4XX': {
      description: 'the request is refused: `error.code` says why, `error.issues` name the fields',
      content: json,
    },
    '5XX': { description: 'the service is unavailable (503 with Retry-After): retry later', content: json },
  };
}

function operation(route: RouteDoc): ZodOpenApiOperationObject {
  const names = [...route.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]);
  const path = names.length
    ? z.object(Object.fromEntries(names.map((name) => [name, route.params?.[name] ?? z.string()])))
    : undefined;
  const bodyContent = route.body
    ? { 'application/json': { schema: route.body } }
    : route.bodyTypes
      ? Object.fromEntries(route.bodyTypes.map((type) => [type, { schema: z.unknown() }]))
      : undefined;
  return {
    operationId: `${route.method}${route.path.replace(/[/:.-]+(.)/g, (_m, c: string) => c.toUpperCase())}`,
    summary: route.summary,
    description: AUTH_TEXT[route.auth],
    tags: [route.tag],
    security: SECURITY[route.auth],
    'x-parcours-auth': route.auth,
    ...(route.deprecated ? { deprecated: true } : {}),
    ...(path || route.query
      ? { requestParams: { ...(path ? { path } : {}), ...(route.query ? { query: route.query } : {}) } }
      : {}),
    ...(bodyContent ? { requestBody: { required: true, content: bodyContent } } : {}),
    responses: {
      ...Object.fromEntries(
        Object.entries(route.answers).map(([status, answer]) => [
          status,
          { description: answer.description, content: content(answer) },
        ]),
      ),
      ...errors(route),
    },
  } as ZodOpenApiOperationObject;
}

export function openApiDocument(version: string): ReturnType<typeof createDocument> {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of ROUTES) {
    const item = (paths[openApiPath(route.path)] ??= {});
    (item as Record<string, ZodOpenApiOperationObject>)[route.method] = operation(route);
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Parcours API',
      version,
      description:
        'Marketing automation on Temporal: Segment-compatible ingestion, contacts, lists, segments, flows, ' +
        'campaigns. Paginated answers carry `nextCursor` (null on the last page), passed back as `?cursor=`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    components: {
      // Recursive (all, any, not): named, so that it is one component rather than an anonymous one.
      schemas: { Condition: condition },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer KEY' },
        basic: { type: 'http', scheme: 'basic', description: 'the key as the user name, an empty password' },
      },
    },
    paths,
  });
}
