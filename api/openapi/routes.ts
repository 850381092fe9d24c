/**
 * Every route of the app, described once: method, path, who may call it, what it reads (the
 * zod schemas the routers validate with) and what it answers (./answers.ts). The OpenAPI
 * document (./document.ts) is generated from this list; test/openapi.test.ts fails when a
 * route of the app is missing here, or listed here and gone.
 */
import { z } from 'zod';
import { campaignInput } from '../../campaigns/schema';
import { productInput, productQuery } from '../../catalog/schema';
import { sourceConfig } from '../../connectors/source-config';
import { consentChannel, flowInput } from '../../flows/schema';
import { momentsQuery, nameDaysQuery, nextQuery } from '../calendar/router';
import { statsQuery as campaignStatsQuery } from '../campaigns/router';
import { wirePayloads } from '../codec/router';
import { consentChangeBody } from '../contacts/consent-router';
import { importErrorsQuery, pushSubscription, timelineQuery } from '../contacts/router';
import { searchQuery } from '../contacts/search';
import { BATCH_PATHS, CALL_TYPES, SHORT_PATHS } from '../events/paths';
import { batchEnvelope, callSchemas } from '../events/schemas';
import { previewRequest } from '../flows/router';
import { statsQuery as flowStatsQuery } from '../flows/stats-router';
import { leaveQuery, listChange, memberPage, newList, newMembers } from '../lists/router';
import { query as outboxQuery } from '../outbox/router';
import { listQuery as deadLettersQuery } from '../routing/router';
import { membersQuery, previewInput, segmentInput } from '../segments/router';
import * as a from './answers';

/** admin: API_KEYS; write: WRITE_KEYS or API_KEYS (the ingestion routes); public: no key (links, signed webhooks). */
export type Auth = 'admin' | 'write' | 'public';
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface Answer {
  description: string;
  /** The JSON body; absent for an answer without one (204) or one that is not JSON (`type`). */
  schema?: z.ZodType;
  /** A body that is not JSON: its media type (an HTML page, a script, a GIF). */
  type?: string;
}

export interface RouteDoc {
  method: Method;
  /** Express style, `/v1/flows/:id`. */
  path: string;
  auth: Auth;
  tag: string;
  summary: string;
  body?: z.ZodType;
  /** A body that is not JSON (a CSV import, a signed webhook): its media types. */
  bodyTypes?: string[];
  query?: z.ZodObject;
  /** Path parameters that are not plain text (default: a string per `:name`). */
  params?: Record<string, z.ZodType>;
  answers: Record<number, Answer>;
  deprecated?: boolean;
}

const ok = (schema: z.ZodType = a.looseAnswer, description = 'done'): Answer => ({ description, schema });
const html = (description: string): Answer => ({ description, type: 'text/html' });

const route = (method: Method, path: string, auth: Auth, tag: string, summary: string, rest: Partial<RouteDoc>) =>
  ({ method, path, auth, tag, summary, answers: { 200: ok() }, ...rest }) as RouteDoc;

// --- ingestion (Segment-compatible) -------------------------------------------------------------

const ingestion: RouteDoc[] = [
  ...CALL_TYPES.map((type) =>
    route('post', `/v1/${type}`, 'write', 'Ingestion', `A Segment ${type} call`, {
      body: callSchemas[type],
      answers: { 200: ok(a.ingestAnswer, 'stored (and routed, or to be routed by the router loop)') },
    }),
  ),
  ...Object.entries(SHORT_PATHS).map(([short, type]) =>
    route('post', `/v1/${short}`, 'write', 'Ingestion', `${type} at analytics.js's short path`, {
      body: callSchemas[type],
      answers: { 200: ok(a.ingestAnswer, 'stored') },
    }),
  ),
  ...BATCH_PATHS.map((path) =>
    route('post', `/v1${path}`, 'write', 'Ingestion', 'Up to 1000 calls, each validated on its own', {
      body: batchEnvelope,
      answers: {
        200: ok(a.batchAnswer, 'at least one item stored; each item has its outcome'),
        400: { description: 'no item is valid', schema: a.batchRefusal },
      },
    }),
  ),
];

// --- flows ---------------------------------------------------------------------------------------

const flowId = { id: z.string().meta({ description: 'the flow id (a slug)' }) };
const flows: RouteDoc[] = [
  route('get', '/v1/flows', 'admin', 'Flows', 'Every flow', { answers: { 200: ok(a.flowsAnswer) } }),
  route('get', '/v1/flows/:id', 'admin', 'Flows', 'A flow, its latest version', {
    params: flowId,
    answers: { 200: ok(a.flowAnswer) },
  }),
  route('put', '/v1/flows/:id', 'admin', 'Flows', 'Create or replace a flow (a change is a new version)', {
    params: flowId,
    body: flowInput,
    answers: { 200: ok(a.flowAnswer, 'replaced (or unchanged)'), 201: ok(a.flowAnswer, 'created') },
  }),
  ...(['activate', 'pause', 'archive'] as const).map((action) =>
    route('post', `/v1/flows/:id/${action}`, 'admin', 'Flows', `${action} the flow (not a new version)`, {
      params: flowId,
      answers: { 200: ok(a.flowStatusAnswer) },
    }),
  ),
  route('get', '/v1/flows/:id/status-notice', 'admin', 'Flows', 'Whether running journeys were told of the status', {}),
  route('get', '/v1/flows/:id/versions', 'admin', 'Flows', 'The versions of a flow', {
    answers: { 200: ok(a.flowVersionsAnswer) },
  }),
  route('get', '/v1/flows/:id/versions/:version', 'admin', 'Flows', 'One version of a flow', {
    params: { id: flowId.id, version: z.string().regex(/^[1-9][0-9]*$/) },
    answers: { 200: ok(a.flowAnswer) },
  }),
  route('post', '/v1/flows/:id/preview', 'admin', 'Flows', 'The messages rendered for a contact', {
    body: previewRequest,
  }),
  route('get', '/v1/flows/:id/stats', 'admin', 'Flows', 'Entries, sends, conversions per step', {
    query: flowStatsQuery,
  }),
];

// --- contacts ------------------------------------------------------------------------------------

const contacts: RouteDoc[] = [
  route('get', '/v1/contacts', 'admin', 'Contacts', 'Search by email, phone, trait.<name>, list or segment', {
    // trait.<name>=<value> filters come on top of these.
    query: searchQuery,
    answers: { 200: ok(a.contactsPageAnswer) },
  }),
  route('post', '/v1/contacts/import', 'admin', 'Contacts', 'Import contacts (CSV or JSON lines, maybe gzipped)', {
    bodyTypes: ['text/csv', 'application/x-ndjson'],
    answers: { 200: ok(a.looseAnswer, 'the import, done: counts and the first bad rows') },
  }),
  route('get', '/v1/contacts/imports', 'admin', 'Contacts', 'The latest imports', {
    query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(20) }),
  }),
  route('get', '/v1/contacts/imports/:importId', 'admin', 'Contacts', "An import's progress and bad rows", {
    query: importErrorsQuery,
  }),
  route('get', '/v1/contacts/erasures/:id', 'admin', 'Contacts', 'Whether an id is erased (404 when not)', {}),
  route('delete', '/v1/contacts/erasures/:id', 'admin', 'Contacts', 'Lift an erasure: the ids are accepted again', {}),
  route('get', '/v1/contacts/:id', 'admin', 'Contacts', 'A profile: consent, lists, segments, computed', {
    answers: { 200: ok(a.contactProfileAnswer) },
  }),
  route('get', '/v1/contacts/:id/export', 'admin', 'Contacts', 'GDPR access: all that is held about the person', {}),
  route('delete', '/v1/contacts/:id', 'admin', 'Contacts', 'GDPR erasure', {}),
  route('get', '/v1/contacts/:id/events', 'admin', 'Contacts', "The contact's events, newest first", {
    query: timelineQuery,
    answers: { 200: ok(a.contactEventsAnswer) },
  }),
  route('get', '/v1/contacts/:id/groups', 'admin', 'Contacts', 'The groups the contact belongs to', {}),
  route('get', '/v1/contacts/:id/journeys', 'admin', 'Contacts', "The contact's journeys, running ones live", {
    answers: { 200: ok(a.contactJourneysAnswer) },
  }),
  route('put', '/v1/contacts/:id/push-subscriptions', 'admin', 'Contacts', 'Store a Web Push subscription', {
    body: pushSubscription,
    answers: { 201: ok() },
  }),
  route('get', '/v1/contacts/:id/messages', 'admin', 'Contacts', 'Messages sent (or skipped) to the contact', {}),
  route('get', '/v1/contacts/:id/consent', 'admin', 'Consent', 'Consent per channel, with its history', {}),
  route('put', '/v1/contacts/:id/consent/:channel', 'admin', 'Consent', 'Record a consent decision with its proof', {
    params: { id: z.string(), channel: consentChannel },
    body: consentChangeBody,
  }),
];

// --- lists and segments ----------------------------------------------------------------------------

const listId = { id: z.string().meta({ description: 'the list id (a slug)' }) };
const lists: RouteDoc[] = [
  route('get', '/v1/lists', 'admin', 'Lists', 'Every list with its member count', {
    answers: { 200: ok(a.listsAnswer) },
  }),
  route('post', '/v1/lists', 'admin', 'Lists', 'Create a list', {
    body: newList,
    answers: { 201: ok(a.listAnswer, 'created') },
  }),
  route('get', '/v1/lists/:id', 'admin', 'Lists', 'A list', { params: listId, answers: { 200: ok(a.listAnswer) } }),
  route('patch', '/v1/lists/:id', 'admin', 'Lists', 'Rename or describe a list', {
    params: listId,
    body: listChange,
    answers: { 200: ok(a.listAnswer) },
  }),
  route('delete', '/v1/lists/:id', 'admin', 'Lists', 'Delete a list (its members leave it)', {
    params: listId,
    answers: { 200: ok(a.listDeletedAnswer) },
  }),
  route('post', '/v1/lists/:id/members', 'admin', 'Lists', 'Add contacts (created when new)', { body: newMembers }),
  route('get', '/v1/lists/:id/members', 'admin', 'Lists', 'Current members in the order they joined', {
    query: memberPage,
    answers: { 200: ok(a.listMembersAnswer) },
  }),
  route('get', '/v1/lists/:id/members/:contactId', 'admin', 'Lists', "A contact's periods on the list", {}),
  route('delete', '/v1/lists/:id/members/:contactId', 'admin', 'Lists', 'Remove a contact from the list', {
    query: leaveQuery,
  }),
];

const segments: RouteDoc[] = [
  route('post', '/v1/segments/preview', 'admin', 'Segments', 'Count and sample a condition', {
    body: previewInput,
    answers: { 200: ok(a.segmentPreviewAnswer) },
  }),
  route('post', '/v1/segments', 'admin', 'Segments', 'Create a segment (built in the background)', {
    body: segmentInput,
    answers: { 202: ok(a.segmentAnswer, 'created; its build has started') },
  }),
  route('get', '/v1/segments', 'admin', 'Segments', 'Every segment', { answers: { 200: ok(a.segmentsAnswer) } }),
  route('get', '/v1/segments/:id', 'admin', 'Segments', 'A segment and a page of its members', {
    query: membersQuery,
    answers: { 200: ok(a.segmentWithMembersAnswer) },
  }),
  route('delete', '/v1/segments/:id', 'admin', 'Segments', 'Delete a segment no flow or segment uses', {
    answers: { 200: ok(a.deletedAnswer) },
  }),
];

// --- campaigns -----------------------------------------------------------------------------------

const campaigns: RouteDoc[] = [
  route('get', '/v1/campaigns', 'admin', 'Campaigns', 'Every campaign', { answers: { 200: ok(a.campaignsAnswer) } }),
  route('get', '/v1/campaigns/:id', 'admin', 'Campaigns', 'A campaign, its runs and send window', {
    answers: { 200: ok(a.campaignDetailAnswer) },
  }),
  route('put', '/v1/campaigns/:id', 'admin', 'Campaigns', 'Create or replace a campaign', {
    body: campaignInput,
    answers: { 200: ok(a.campaignAnswer, 'replaced'), 201: ok(a.campaignAnswer, 'created') },
  }),
  ...(['send', 'schedule'] as const).map((action) =>
    route('post', `/v1/campaigns/:id/${action}`, 'admin', 'Campaigns', `${action} the campaign`, {
      answers: { 202: ok(a.campaignStartedAnswer, 'started') },
    }),
  ),
  ...(['pause', 'resume', 'cancel'] as const).map((action) =>
    route('post', `/v1/campaigns/:id/${action}`, 'admin', 'Campaigns', `${action} a running campaign`, {
      answers: { 202: ok(a.campaignActionAnswer, 'asked') },
    }),
  ),
  route('get', '/v1/campaigns/:id/stats', 'admin', 'Campaigns', 'Sends, opens, clicks, conversions', {
    query: campaignStatsQuery,
  }),
];

// --- the product catalog ---------------------------------------------------------------------------

const productId = { id: z.string().meta({ description: "the shop's own product id" }) };
const products: RouteDoc[] = [
  route('get', '/v1/products', 'admin', 'Catalog', 'Products, latest change first: search, category, pages', {
    query: productQuery,
    answers: { 200: ok(a.productsPageAnswer) },
  }),
  route('get', '/v1/products/:id', 'admin', 'Catalog', 'A product', {
    params: productId,
    answers: { 200: ok(a.productAnswer) },
  }),
  route('put', '/v1/products/:id', 'admin', 'Catalog', 'Create or replace a product', {
    params: productId,
    body: productInput,
    answers: { 200: ok(a.productAnswer, 'replaced'), 201: ok(a.productAnswer, 'created') },
  }),
  route('delete', '/v1/products/:id', 'admin', 'Catalog', 'Delete a product', {
    params: productId,
    answers: { 200: ok(a.deletedAnswer, 'deleted') },
  }),
];

// --- the rest of the admin API ---------------------------------------------------------------------

const admin: RouteDoc[] = [
  route('get', '/v1/outbox', 'admin', 'Operations', 'The latest messages sent', { query: outboxQuery }),
  route('get', '/v1/sources', 'admin', 'Sources', 'Every generic source', {}),
  route('get', '/v1/sources/:id', 'admin', 'Sources', 'A source (secrets redacted)', {}),
  route('put', '/v1/sources/:id', 'admin', 'Sources', 'Create or replace a source', {
    body: sourceConfig,
    answers: { 200: ok(a.looseAnswer, 'replaced'), 201: ok(a.looseAnswer, 'created') },
  }),
  route('delete', '/v1/sources/:id', 'admin', 'Sources', 'Delete a source', {
    answers: { 204: { description: 'deleted' } },
  }),
  route('get', '/v1/calendar/moments', 'admin', 'Calendar', 'The moments of a year', { query: momentsQuery }),
  route('get', '/v1/calendar/moments/:id/next', 'admin', 'Calendar', "A moment's next date", { query: nextQuery }),
  route('get', '/v1/calendar/name-days', 'admin', 'Calendar', 'The names of a day, or the day of a name', {
    // The router's schema is a union (name= or day=); a query is documented as one object.
    query: z.object({
      name: nameDaysQuery.options[0].shape.name.optional(),
      day: nameDaysQuery.options[1].shape.day.optional(),
    }),
  }),
  route('get', '/v1/routing/dead-letters', 'admin', 'Operations', 'Events routing gave up on', {
    query: deadLettersQuery,
  }),
  route('post', '/v1/routing/dead-letters/:id/retry', 'admin', 'Operations', 'Route a dead letter again', {
    params: { id: z.string().regex(/^[1-9][0-9]*$/) },
  }),
  route('post', '/v1/codec/decode', 'admin', 'Operations', 'Temporal codec server: decode payloads', {
    body: wirePayloads,
  }),
  route('post', '/v1/codec/encode', 'admin', 'Operations', 'Temporal codec server: encode payloads', {
    body: wirePayloads,
  }),
];

// --- public: links in messages, webhooks, probes, this document ----------------------------------

const signed = (path: string, summary: string, types = ['application/json'], answer: Answer = ok()) =>
  route('post', path, 'public', 'Webhooks', `${summary} (verified by its signature)`, {
    bodyTypes: types,
    answers: { 200: answer },
  });
const publicRoutes: RouteDoc[] = [
  signed('/v1/webhooks/sendgrid', 'SendGrid event webhook'),
  signed('/v1/webhooks/twilio/status', 'Twilio status callback', ['application/x-www-form-urlencoded']),
  signed('/v1/webhooks/twilio/inbound', 'Twilio inbound SMS (STOP, START)', ['application/x-www-form-urlencoded'], {
    description: 'TwiML: the reply to send, if any',
    type: 'text/xml',
  }),
  signed('/v1/webhooks/shopify', 'Shopify webhook'),
  signed('/v1/webhooks/woocommerce', 'WooCommerce webhook'),
  route('post', '/v1/sources/:id/events', 'public', 'Webhooks', "A generic source's delivery (its own secret)", {
    bodyTypes: ['application/json'],
    answers: { 200: ok() },
  }),
  route('get', '/u/:token', 'public', 'Links', 'The unsubscribe and preference page', {
    answers: { 200: html('the page') },
  }),
  route('post', '/u/:token', 'public', 'Links', 'One-click unsubscribe (RFC 8058)', {
    bodyTypes: ['application/x-www-form-urlencoded'],
    answers: { 200: html('unsubscribed') },
  }),
  route('post', '/u/:token/preferences', 'public', 'Links', 'Save the preference page', {
    bodyTypes: ['application/x-www-form-urlencoded'],
    answers: { 200: html('saved') },
  }),
  route('get', '/c/:token', 'public', 'Links', 'The double opt-in confirmation page', {
    answers: { 200: html('the page') },
  }),
  route('post', '/c/:token', 'public', 'Links', 'Confirm a subscription', {
    bodyTypes: ['application/x-www-form-urlencoded'],
    answers: { 200: html('confirmed') },
  }),
  route('get', '/t/o/:token', 'public', 'Links', 'Open tracking pixel', {
    answers: { 200: { description: 'a 1×1 GIF', type: 'image/gif' } },
  }),
  route('get', '/t/c/:token', 'public', 'Links', 'Click tracking: redirects to the link', {
    answers: { 302: { description: 'to the link' } },
  }),
  route('get', '/health', 'public', 'Probes', 'Postgres and Temporal, each with its latency', {
    answers: {
      200: ok(a.healthAnswer, 'Postgres answers (Temporal may be degraded)'),
      503: ok(a.healthAnswer, 'Postgres does not answer'),
    },
  }),
  route('get', '/livez', 'public', 'Probes', 'Liveness: the process serves HTTP (no dependency checked)', {
    answers: { 200: ok(a.livenessAnswer, 'alive') },
  }),
  route('get', '/readyz', 'public', 'Probes', 'Readiness: Postgres answers, so requests can be served', {
    answers: {
      200: ok(a.healthAnswer, 'ready'),
      503: ok(a.healthAnswer, 'not ready: take it out of the load balancer, do not restart it'),
    },
  }),
  route('get', '/openapi.json', 'public', 'Reference', 'This document', { answers: { 200: ok() } }),
  route('get', '/docs/api', 'public', 'Reference', 'The API reference page', { answers: { 200: html('the page') } }),
  route('get', '/docs/api/reference.js', 'public', 'Reference', "The reference page's script", {
    answers: { 200: { description: 'JavaScript', type: 'text/javascript' } },
  }),
];

export const ROUTES: readonly RouteDoc[] = [
  ...ingestion,
  ...flows,
  ...contacts,
  ...lists,
  ...segments,
  ...campaigns,
  ...products,
  ...admin,
  ...publicRoutes,
];
