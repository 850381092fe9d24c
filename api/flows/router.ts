import { Router } from 'express';
import { z } from 'zod';
import { getContact } from '../../db/contacts';
import { addNotice, latestNotice } from '../../db/flow-status-notices';
import {
  changeFlowStatus,
  FlowArchivedError,
  getFlow,
  getFlowVersion,
  listFlows,
  listFlowVersions,
  saveFlow,
  VersionConflictError,
} from '../../db/flows';
import { inTransaction, type Db } from '../../db/pool';
import { renderContext } from '../../sending/render-context';
import { isCalendarTriggered } from '../../flows/date-triggers';
import { flowId, type FlowDefinition, type FlowStatus } from '../../flows/schema';
import { renderFields, templateFields } from '../../flows/templates';
import { validateFlow } from '../../flows/validate';
import { notifyInBackground, type FlowStatusDeps } from '../../routing/flow-status';
import { wakeCalendarClock } from '../../worker/calendar-clock';
import { HttpError, invalid, notFound } from '../errors';
import { ensureInactivitySegment } from '../../services/inactivity-segment';
import { unstorableJson } from '../../connectors/storable-json';
import { parseOr400, storableParam } from '../validate';
import { EVENTS } from '../../flows/event-names';

const previewRequest = z.strictObject({
  contactId: z.string().min(1).optional(),
  /** Traits to render with, merged over the stored contact's. */
  contact: z.record(z.string(), z.unknown()).optional(),
  event: z
    .strictObject({
      name: z.string().optional(),
      properties: z.record(z.string(), z.unknown()).default({}),
      timestamp: z.string().optional(),
    })
    .optional(),
});

const noticeView = (n: {
  id: number;
  status: string;
  signalled: number;
  finishedAt: string | null;
  outcome: string | null;
  lastError: string | null;
}) => ({
  id: n.id,
  status: n.status,
  state: n.outcome ?? 'pending',
  journeysSignalled: n.signalled,
  finishedAt: n.finishedAt,
  lastError: n.lastError,
});

/** Database refusals of a flow change, as the client sees them. */
function flowConflict(err: unknown): never {
  if (err instanceof VersionConflictError) throw new HttpError(409, 'version_conflict', err.message);
  if (err instanceof FlowArchivedError) throw new HttpError(409, 'archived', err.message);
  throw err;
}

export function flowsRouter(deps: FlowStatusDeps & { db: Db }): Router {
  const router = Router();
  router.param('id', storableParam('id'));

  /** A live date flow: the calendar clock looks at once rather than at its next (hourly) wake. */
  const wakeClockFor = async (flow: FlowDefinition) => {
    if (flow.status !== 'live' || !isCalendarTriggered(flow)) return;
    await wakeCalendarClock(deps.workflows).catch((err: Error) =>
      deps.log.warn(
        { err: err.message, flowId: flow.id },
        'calendar clock not woken; it sees the flow at its next wake',
      ),
    );
  };

  const load = async (id: string) => {
    const flow = await getFlow(deps.db, id);
    if (!flow) throw notFound(`flow "${id}"`);
    return flow;
  };

  router.get('/', async (_req, res) => {
    res.json({ flows: await listFlows(deps.db) });
  });

  router.get('/:id', async (req, res) => {
    res.json(await load(req.params.id));
  });

  /**
   * `liveSince` is what the GET shows of the flow's life, not of its content: a PUT of what a GET
   * answered (minus createdAt and updatedAt, as before it existed) is taken, and the field ignored.
   */
  const withoutReadOnly = (body: unknown): unknown => {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
    const { liveSince: _liveSince, ...rest } = body as Record<string, unknown>;
    return rest;
  };

  /** Create or replace. A changed flow gets a new version; running journeys keep theirs. */
  router.put('/:id', async (req, res) => {
    const id = parseOr400(flowId, req.params.id);
    const unstorable = unstorableJson(req.body);
    if (unstorable) throw invalid([unstorable], 'flow is invalid');
    const validated = validateFlow(withoutReadOnly(req.body));
    if (!validated.success) throw invalid(validated.issues, 'flow is invalid');
    if (validated.data.id !== undefined && validated.data.id !== id) {
      throw invalid([{ path: ['id'], message: `body id "${validated.data.id}" does not match the URL ("${id}")` }]);
    }
    const { flow, changed, previousStatus } = await inTransaction(deps.db, async (tx) => {
      const saved = await saveFlow(tx, id, validated.data);
      if (saved.previousStatus !== undefined) await addNotice(tx, id, saved.flow.status);
      return saved;
    }).catch(flowConflict);
    if (previousStatus !== undefined) notifyInBackground(deps, id);
    const inactivitySegment = await ensureInactivitySegment(deps, flow);
    await wakeClockFor(flow);
    res
      .status(changed && flow.version === 1 ? 201 : 200)
      .json(inactivitySegment ? { ...flow, inactivitySegment } : flow);
  });

  // Status changes are not edits: no new version. They take the flow's row lock, and the
  // running journeys are told in the background after the answer (routing/flow-status.ts).
  const statusRoute = (path: string, status: FlowStatus) =>
    router.post(`/:id/${path}`, async (req, res) => {
      const changed = await inTransaction(deps.db, async (tx) => {
        const result = await changeFlowStatus(tx, req.params.id, status);
        const notice =
          result && result.previousStatus !== status ? await addNotice(tx, req.params.id, status) : undefined;
        return result && { ...result, notice };
      }).catch(flowConflict);
      if (!changed) throw notFound(`flow "${req.params.id}"`);
      if (changed.notice) notifyInBackground(deps, req.params.id);
      // Its system segment may have been deleted meanwhile: activating makes it again.
      const inactivitySegment = status === 'live' ? await ensureInactivitySegment(deps, changed.flow) : undefined;
      await wakeClockFor(changed.flow);
      res.json({
        ...changed.flow,
        ...(inactivitySegment ? { inactivitySegment } : {}),
        journeysNotice: changed.notice ? noticeView(changed.notice) : null,
      });
    });
  statusRoute('activate', 'live');
  statusRoute('pause', 'paused');
  statusRoute('archive', 'archived');

  /** Progress of telling running journeys about the latest status change. */
  router.get('/:id/status-notice', async (req, res) => {
    await load(req.params.id);
    const notice = await latestNotice(deps.db, req.params.id);
    res.json({ notice: notice ? noticeView(notice) : null });
  });

  router.get('/:id/versions', async (req, res) => {
    await load(req.params.id);
    const versions = await listFlowVersions(deps.db, req.params.id);
    res.json({
      versions: versions.map((v) => ({ version: v.version, createdAt: v.createdAt, name: v.definition.name })),
    });
  });

  router.get('/:id/versions/:version', async (req, res) => {
    const version = parseOr400(
      z.coerce
        .number()
        .int()
        .positive()
        .max(2 ** 31 - 1),
      req.params.version,
    );
    const definition = await getFlowVersion(deps.db, req.params.id, version);
    if (!definition) throw notFound(`version ${version} of flow "${req.params.id}"`);
    res.json(definition);
  });

  /** Every message of the flow rendered for a contact and a trigger event; nothing is sent. */
  router.post('/:id/preview', async (req, res) => {
    const flow = await load(req.params.id);
    const body = parseOr400(previewRequest, req.body ?? {});
    const stored = body.contactId ? await getContact(deps.db, body.contactId) : undefined;
    if (body.contactId && !stored) throw notFound(`contact "${body.contactId}"`);
    const event = {
      name:
        body.event?.name ??
        ('event' in flow.trigger
          ? flow.trigger.event
          : 'inactivity' in flow.trigger
            ? EVENTS.segmentEntered
            : EVENTS.profileUpdated),
      properties: body.event?.properties ?? {},
      timestamp: body.event?.timestamp ?? new Date().toISOString(),
    };
    const journey = {
      flowId: flow.id,
      flowVersion: flow.version,
      runId: 'preview',
      workflowId: 'preview',
      startedAt: event.timestamp,
    };
    const messages = [];
    for (const step of flow.steps) {
      if (Object.keys(templateFields(step)).length === 0) continue;
      try {
        messages.push({
          stepId: step.id,
          type: step.type,
          rendered: await renderFields(
            step,
            renderContext({ contact: stored, contactOverrides: body.contact, event, journey, unsubscribe: true }),
          ),
        });
      } catch (err) {
        messages.push({ stepId: step.id, type: step.type, error: (err as Error).message });
      }
    }
    res.json({ flowId: flow.id, version: flow.version, messages });
  });

  return router;
}
