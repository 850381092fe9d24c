/**
 * The update_profile step: set/unset traits, add/remove tags, add lead-score points, then
 * let profile-change triggers react. The change is stored as an identify event keyed by the
 * journey run and step: a retried activity finds it and does not add the points twice.
 */
import { getContact, updateProfile, type Contact } from '../db/contacts';
import { insertEvent, markRouted } from '../db/events';
import { inTransaction, type Db } from '../db/pool';
import type { StepOf } from '../flows/schema';
import { liquid } from '../flows/templates';
import { routeProfileChange, type RoutingDeps } from '../routing/route-event';
import { profileOf } from './facts';
import { checkGuard, type GuardRequest, type GuardStop } from './guard';
import { journeyData } from './send-message';

export type ProfileOutcome = { status: 'updated'; changes: Record<string, unknown>; entered: string[] } | { status: 'unchanged' } | GuardStop;

export async function applyProfileStep(db: Db, routing: RoutingDeps | undefined, req: GuardRequest & { step: StepOf<'update_profile'> }): Promise<ProfileOutcome> {
  const { journey, step } = req;
  const stop = await checkGuard(db, req, { holdWhenPaused: false });
  if (stop) return stop;

  const current = await getContact(db, journey.contactId);
  const context = { contact: profileOf(current), event: { name: req.trigger.name, properties: req.trigger.properties, timestamp: req.trigger.timestamp }, journey: journeyData(journey) };
  const set: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(step.set ?? {})) set[key] = typeof value === 'string' ? await liquid.parseAndRender(value, context) : value;
  const changes = { set, unset: step.unset, addTags: step.addTags, removeTags: step.removeTags, score: step.score };

  const applied = await inTransaction(db, async (tx) => {
    const { event, duplicate } = await insertEvent(tx, {
      messageId: `profile-update:${journey.runId}:${step.id}`,
      type: 'identify',
      contactId: journey.contactId,
      name: 'Profile Updated',
      properties: JSON.parse(JSON.stringify(changes)) as Record<string, unknown>,
      context: { source: 'journey', flowId: journey.flowId, stepId: step.id },
      occurredAt: new Date(Math.max(req.now, Date.now())).toISOString(),
    });
    if (duplicate) return { event, before: undefined as Contact | undefined, after: undefined as Contact | undefined };
    return { event, ...(await updateProfile(tx, journey.contactId, changes)) };
  });
  if (!applied.after) return { status: 'unchanged' };
  const entered = routing ? await routeProfileChange(routing, applied.before, applied.after, applied.event) : undefined;
  if (entered) await markRouted(db, applied.event.id, entered);
  return { status: 'updated', changes: JSON.parse(JSON.stringify(changes)) as Record<string, unknown>, entered: entered?.started.map((s) => s.flowId) ?? [] };
}
