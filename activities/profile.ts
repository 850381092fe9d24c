/**
 * The update_profile step: set/unset traits, add/remove tags, add lead-score points. The
 * change is stored, in the same transaction, as an identify event carrying the profile before
 * and after (like an identify's), keyed by the journey run and step: a retried activity finds
 * it and does not add the points twice. The activity does not route: the router loop routes
 * that event like any other (profile-change triggers), so a routing failure is retried by the
 * router, never lost with the activity's retry.
 */
import { lockContact } from '../db/contact-merge';
import { getContact, updateProfile } from '../db/contacts';
import { eventExists, insertEvent } from '../db/events';
import { inTransaction, type Db } from '../db/pool';
import type { StepOf } from '../flows/schema';
import { liquid } from '../flows/templates';
import { checkGuard, type GuardRequest, type GuardStop } from './guard';
import { renderContext } from '../sending/render-context';
import { EVENTS } from '../flows/event-names';

/** `entered` stays for the workflow's sake (it reads it) and is always empty now: entering is the router's job. */
export type ProfileOutcome =
  | { status: 'updated'; changes: Record<string, unknown>; entered: string[] }
  | { status: 'unchanged' }
  | GuardStop;

export async function applyProfileStep(
  db: Db,
  req: GuardRequest & { step: StepOf<'update_profile'> },
): Promise<ProfileOutcome> {
  const { journey, step } = req;
  const stop = await checkGuard(db, req, { holdWhenPaused: false });
  if (stop) return stop;

  const current = await getContact(db, journey.contactId);
  const context = renderContext({ contact: current, event: req.trigger, journey });
  const set: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(step.set ?? {}))
    set[key] = typeof value === 'string' ? await liquid.parseAndRender(value, context) : value;
  const changes = { set, unset: step.unset, addTags: step.addTags, removeTags: step.removeTags, score: step.score };

  const json = JSON.parse(JSON.stringify(changes)) as Record<string, unknown>;
  const applied = await inTransaction(db, async (tx) => {
    // The contact's lock orders two attempts of this step: the second sees the first's event.
    // It also orders the step with a merge of the contact (followed if one committed meanwhile).
    const { contactId } = await lockContact(tx, journey.contactId);
    const messageId = `profile-update:${journey.runId}:${step.id}`;
    if (await eventExists(tx, messageId)) return false;
    const { before, after } = await updateProfile(tx, contactId, changes);
    await insertEvent(tx, {
      messageId,
      type: 'identify',
      contactId,
      name: EVENTS.profileUpdated,
      properties: json,
      context: { source: 'journey', flowId: journey.flowId, stepId: step.id, profileChange: { before, after } },
      occurredAt: new Date(Math.max(req.now, Date.now())).toISOString(),
    });
    return true;
  });
  return applied ? { status: 'updated', changes: json, entered: [] } : { status: 'unchanged' };
}
