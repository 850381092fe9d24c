/**
 * What the routes answer, as zod schemas: the OpenAPI document's response schemas, and what
 * test/openapi.test.ts checks real answers against. Objects are loose (a new field is not a
 * breaking change) but name the fields clients rely on. Routes without a schema here are
 * documented with `looseAnswer` (any JSON object) until theirs is written.
 */
import { z } from 'zod';
import { consentStatus, flowStatus } from '../../flows/schema';

const time = z.string().meta({ description: 'ISO-8601 date-time' });
const nullableTime = time.nullable();
const record = z.record(z.string(), z.unknown());

export const issue = z.looseObject({ path: z.array(z.union([z.string(), z.number()])), message: z.string() });

/**
 * Every error: `{ error: { code, message, issues? } }`, and code and message at the top too
 * (analytics-python reads them there).
 */
export const errorAnswer = z
  .looseObject({
    code: z.string(),
    message: z.string(),
    error: z.looseObject({ code: z.string(), message: z.string(), issues: z.array(issue).optional() }),
  })
  .meta({ id: 'Error' });

/** Any JSON object: routes whose answer is not described field by field yet. */
export const looseAnswer = z.looseObject({}).meta({ id: 'LooseObject' });

/** Pagination, one style: `nextCursor` is null on the last page; pass it back as `?cursor=`. */
export const nextCursor = z
  .string()
  .nullable()
  .meta({ description: 'the next page: pass it back as ?cursor=; null on the last page' });
/** The name contacts and events used before `nextCursor`; the same value, kept for existing clients. */
const deprecatedNextCursor = nextCursor.meta({ deprecated: true, description: 'deprecated: read nextCursor' });

// --- ingestion -------------------------------------------------------------------------------

/** Accepted calls answer 200 with `success: true` as Segment's API does (its Python libraries read it). */
const success = z.literal(true);

export const ingestAnswer = z
  .looseObject({
    success,
    messageId: z.string(),
    eventId: z.number().int(),
    contactId: z.string(),
    duplicate: z.boolean(),
    routing: z.enum(['done', 'deferred']),
    journeys: record.optional(),
    consent: record.optional(),
  })
  .meta({ id: 'IngestResult' });

const itemOutcome = z.looseObject({
  index: z.number().int(),
  outcome: z.enum(['stored', 'duplicate', 'rejected']),
});
export const batchAnswer = z
  .looseObject({
    success,
    accepted: z.number().int(),
    stored: z.number().int(),
    duplicates: z.number().int(),
    rejected: z.number().int(),
    results: z.array(itemOutcome),
    errors: z.array(itemOutcome),
  })
  .meta({ id: 'BatchResult' });
/** A batch with no valid item: the error, and each item's outcome. */
export const batchRefusal = z.looseObject({
  ...errorAnswer.shape,
  ...batchAnswer.omit({ success: true }).shape,
});

// --- flows -----------------------------------------------------------------------------------

export const flowAnswer = z
  .looseObject({
    id: z.string(),
    version: z.number().int().min(1),
    status: flowStatus,
    name: z.string(),
    trigger: record,
    steps: z.array(record),
    createdAt: time.optional(),
    updatedAt: time.optional(),
  })
  .meta({ id: 'Flow' });
export const flowsAnswer = z.looseObject({ flows: z.array(flowAnswer) });
export const flowStatusAnswer = z.looseObject({
  ...flowAnswer.shape,
  journeysNotice: z.looseObject({ id: z.number().int(), status: z.string(), state: z.string() }).nullable(),
});
export const flowVersionsAnswer = z.looseObject({
  versions: z.array(z.looseObject({ version: z.number().int() })),
});

// --- contacts --------------------------------------------------------------------------------

export const contactAnswer = z
  .looseObject({
    id: z.string(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    traits: record,
    createdAt: time,
    updatedAt: time,
  })
  .meta({ id: 'Contact' });
const membership = z.looseObject({ id: z.string() });
export const contactProfileAnswer = z
  .looseObject({
    ...contactAnswer.shape,
    consent: z.record(z.string(), z.looseObject({ status: consentStatus })).nullable(),
    lists: z.array(membership).nullable(),
    segments: z.array(membership).nullable(),
    computed: record,
  })
  .meta({ id: 'ContactProfile' });
export const contactsPageAnswer = z.looseObject({
  contacts: z.array(contactAnswer),
  nextCursor,
  next_cursor: deprecatedNextCursor,
});
export const contactEventsAnswer = z.looseObject({
  contactId: z.string(),
  events: z.array(z.looseObject({ type: z.string() })),
  nextCursor,
  next_cursor: deprecatedNextCursor,
});

export const contactJourneysAnswer = z.looseObject({
  journeys: z.array(
    z
      .looseObject({
        workflowId: z.string(),
        runId: z.string().nullable(),
        flowId: z.string(),
        flowVersion: z.number().int(),
        status: z.enum(['running', 'completed', 'exited', 'failed', 'terminated', 'timed_out', 'canceled']),
        exitReason: z.string().nullable(),
        currentStep: z.string().nullable().meta({ description: 'the step it is at, or ended at once ended' }),
        nextWakeAt: nullableTime.meta({ description: 'when its delay, wait or held send ends; null if none is timed' }),
        waitingFor: z.string().nullable().meta({ description: 'a wait_for_event step: the event awaited' }),
        live: z.boolean().nullable().meta({
          description: 'running journeys: true when asked of Temporal now, false when the stored step answers',
        }),
        startedAt: time,
        endedAt: nullableTime,
      })
      .meta({ id: 'ContactJourney' }),
  ),
});

// --- segments --------------------------------------------------------------------------------

export const segmentAnswer = z
  .looseObject({
    id: z.string(),
    name: z.string(),
    condition: record,
    status: z.string(),
    progress: z.looseObject({ processed: z.number(), total: z.number() }),
    count: z.number().int(),
    createdAt: time,
    readyAt: nullableTime,
  })
  .meta({ id: 'Segment' });
export const segmentsAnswer = z.looseObject({ segments: z.array(segmentAnswer) });
export const segmentWithMembersAnswer = z.looseObject({
  ...segmentAnswer.shape,
  members: z.array(z.looseObject({ contactId: z.string(), enteredAt: time, source: z.string() })),
  nextCursor,
});
export const segmentPreviewAnswer = z.looseObject({
  count: z.number().int(),
  sample: z.array(z.looseObject({ contactId: z.string() })),
});
export const deletedAnswer = z.looseObject({ id: z.string(), deleted: z.literal(true) });

// --- lists -----------------------------------------------------------------------------------

export const listAnswer = z
  .looseObject({
    id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    createdAt: time,
    updatedAt: time,
    memberCount: z.number().int().optional(),
  })
  .meta({ id: 'List' });
export const listsAnswer = z.looseObject({ lists: z.array(listAnswer) });
export const listMembersAnswer = z.looseObject({
  members: z.array(z.looseObject({ contactId: z.string(), email: z.string().nullable(), joinedAt: time })),
  nextCursor,
});
export const listDeletedAnswer = z.looseObject({
  id: z.string(),
  deleted: z.literal(true),
  membersLeft: z.number().int(),
});

// --- campaigns -------------------------------------------------------------------------------

export const campaignAnswer = z
  .looseObject({
    id: z.string(),
    definition: record,
    status: z.string(),
    createdAt: time,
    updatedAt: time,
  })
  .meta({ id: 'Campaign' });
export const campaignsAnswer = z.looseObject({ campaigns: z.array(campaignAnswer) });
export const campaignDetailAnswer = z.looseObject({ ...campaignAnswer.shape, runs: z.array(record) });
export const campaignStartedAnswer = z.looseObject({ id: z.string(), status: z.string() });
export const campaignActionAnswer = z.looseObject({ id: z.string(), requested: z.string() });

// --- the product catalog ---------------------------------------------------------------------

const amount = z.number();
export const productAnswer = z
  .looseObject({
    id: z.string(),
    title: z.string(),
    url: z.string().nullable(),
    imageUrl: z.string().nullable(),
    price: amount,
    compareAtPrice: amount.nullable(),
    currency: z.string(),
    inStock: z.boolean(),
    stock: z.number().int().nullable(),
    published: z.boolean(),
    publishedAt: nullableTime,
    categories: z.array(z.string()),
    tags: z.array(z.string()),
    brand: z.string().nullable(),
    variants: z.array(z.looseObject({ id: z.string() })),
    createdAt: time,
    updatedAt: time,
  })
  .meta({ id: 'Product' });
export const productsPageAnswer = z.looseObject({ products: z.array(productAnswer), nextCursor });

// --- operations ------------------------------------------------------------------------------

const check = z.looseObject({ ok: z.boolean(), ms: z.number(), error: z.string().optional() });
export const healthAnswer = z.looseObject({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  postgres: check,
  temporal: check,
});
export const livenessAnswer = z.looseObject({ status: z.literal('ok') });
