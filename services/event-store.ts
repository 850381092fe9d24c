/**
 * Storing prepared calls, one or a whole batch, in ONE transaction with set-based SQL:
 * duplicates found in one query, contacts created and locked in one statement each, every
 * contact's traits merged in JavaScript in call order and written in one statement, the events
 * inserted in one statement (a messageId already stored is skipped). Merges (alias, identify
 * with both ids) run in call order inside the same transaction, and every call lands on the
 * contact its ids resolve to after them.
 *
 * Calls that only add events (track, page, screen without traits: most of what shops send)
 * skip all of that: one statement, no transaction around it (storeEventsOnly).
 *
 * A batch the database refuses because of one call (its data, SQLSTATE class 22 or 54; a
 * constraint, class 23; anything but the database being unreachable) is stored again call by
 * call under savepoints, so that call alone is refused and the others are kept.
 */
import type { Contact } from '../db/contacts';
import { createAndLockContacts, readContacts, writeProfiles, type LockedContact } from '../db/contact-batch';
import { mergeContacts, resolveContactIds } from '../db/contact-merge';
import { eventsByMessageIds, insertEvents, insertNewEvents, type NewEvent, type StoredEvent } from '../db/events';
import { upsertContactGroups } from '../db/groups';
import { applyListChanges } from '../db/lists';
import { applyProvenConsent, applyTraitConsent } from '../db/consent';
import {
  hasListChanges,
  listChangesFromTraits,
  listSourceOf,
  withoutListTraits,
  type ListChanges,
} from '../audiences/list-traits';
import { applyStats, countsInStats } from '../db/contact-stats';
import { inSavepoint, inTransaction, isDatabaseUnavailable, isRefusedData, type Db, type Queryable } from '../db/pool';
import type { Logger } from '../runtime/logger';
import type { WriteKeyRequest } from '../audiences/consent-policy';
import type { CallType, ProvenConsent } from '../connectors/segment';
import { HttpError } from './errors';

export type StoredType = 'track' | 'identify' | 'group' | 'alias';

export interface PreparedCall {
  callType: CallType;
  messageId: string;
  /** The contact as the call names it (userId, else `anonymous:<anonymousId>`), before merges. */
  contactId: string;
  /** Contacts this call says are `contactId` (alias; identify with both ids), merged into it. */
  mergeFrom: string[];
  /** When it exists, this contact is merged too (an alias's previousId may be a former userId). */
  mergeFromIfExists?: string;
  /** Traits merged into the contact's profile. */
  traits: Record<string, unknown>;
  group?: { groupId: string; traits: Record<string, unknown> };
  type: StoredType;
  name?: string;
  properties: Record<string, unknown>;
  context: Record<string, unknown>;
  occurredAt: string;
  /**
   * Set when the call came with a write key (public, in a web page): the request it came in, the proof of what it
   * asks. Such a call cannot grant consent, change a known contact's email or phone, or join lists.
   */
  writeKey?: WriteKeyRequest;
  /** Consent decisions a connector read from its platform, with their proof (never from a client's body). */
  consent?: ProvenConsent[];
}

export type StoreOutcome =
  /** `confirmEmail`: the email consent this call made `pending` from a write key, whose confirmation is to be sent. */
  | { status: 'stored' | 'duplicate'; event: StoredEvent; confirmEmail?: { consentEventId: number } }
  /** The database refused this call's data (only when storing call by call). */
  | { status: 'refused'; code: string; message: string };

export interface StoreOptions {
  /** The caller routes the events itself: the router loop leaves them alone this long. */
  routeWithinMs: number;
  log: Logger;
}

/** Concurrent merges can move a contact between our lookup and our lock: look again, this many times. */
const MAX_LOCK_ATTEMPTS = 8;

/** Stores the calls; the outcomes are in the order of `calls`. */
export async function storeCalls(db: Db, calls: PreparedCall[], opts: StoreOptions): Promise<StoreOutcome[]> {
  if (calls.length === 0) return [];
  try {
    const quick = calls.every(onlyAddsAnEvent) ? await storeEventsOnly(db, calls, opts) : undefined;
    return quick ?? (await inTransaction(db, (tx) => storeInTransaction(tx, calls, opts)));
  } catch (err) {
    if (calls.length === 1 || isDatabaseUnavailable(err)) throw err;
    opts.log.warn(
      { err: (err as Error).message, calls: calls.length },
      'batch refused as a whole; storing it call by call',
    );
    return storeOneByOne(db, calls, opts);
  }
}

/** A constraint the row breaks (SQLSTATE class 23): the call's fault, like refused data. */
const isConstraintViolation = (err: unknown) => /^23[0-9A-Z]{3}$/.test(String((err as { code?: unknown }).code));

async function storeOneByOne(db: Db, calls: PreparedCall[], opts: StoreOptions): Promise<StoreOutcome[]> {
  return inTransaction(db, async (tx) => {
    const outcomes: StoreOutcome[] = [];
    for (const call of calls) {
      const refusedOutcome = (err: unknown): StoreOutcome[] => {
        // A call we refuse ourselves (a write key changing a known contact's email): its own answer.
        if (err instanceof HttpError && err.status < 500)
          return [{ status: 'refused', code: err.code, message: err.message }];
        const refused = isRefusedData(err) || isConstraintViolation(err);
        if (!refused) opts.log.error({ err, messageId: call.messageId }, 'storing a call failed');
        return [
          {
            status: 'refused',
            code: refused ? 'invalid_data' : 'internal',
            // As the API words refused data (api/errors.ts toHttpError).
            message: refused ? `the data cannot be stored: ${(err as Error).message}` : 'internal error',
          },
        ];
      };
      outcomes.push(...(await inSavepoint(tx, () => storeInTransaction(tx, [call], opts), refusedOutcome)));
    }
    return outcomes;
  });
}

interface ContactState {
  profile: Contact;
  /** False until the contact existed before this call (a new contact's first identify has no "before"). */
  existed: boolean;
  changed: boolean;
}

async function storeInTransaction(tx: Queryable, calls: PreparedCall[], opts: StoreOptions): Promise<StoreOutcome[]> {
  // A messageId stored before, or seen earlier in this batch, is a duplicate: it changes nothing.
  const stored = await eventsByMessageIds(tx, [...new Set(calls.map((c) => c.messageId))]);
  const firstOf = new Map<string, number>();
  const fresh = calls.map((call, index) => {
    if (stored.has(call.messageId) || firstOf.has(call.messageId)) return false;
    firstOf.set(call.messageId, index);
    return true;
  });
  const freshCalls = calls.filter((_, i) => fresh[i]);

  const { contactOf, merges, states } = await lockContacts(tx, freshCalls);
  // Contacts that took another's facts in this batch: their stored call says so (`mergedFrom`),
  // so the router re-evaluates every live segment for them, not only those the call feeds.
  const mergedInto = new Set<string>();
  for (const { from, into } of merges) if ((await mergeContacts(tx, from, into)).merged) mergedInto.add(into);

  // Profiles as they are after the merges, then each call's traits on top, in call order.
  if (merges.length > 0) {
    const merged = await readContacts(tx, [...states.keys()]);
    for (const [id, state] of states) state.profile = profileOf(merged.get(id) ?? state.profile);
  }
  const rows: NewEvent[] = [];
  const groups = new Map<string, { contactId: string; groupId: string; traits: Record<string, unknown> }>();
  // `lists` traits change memberships (stored List Joined / List Left events), not the profile.
  const listChanges: { contactId: string; changes: ListChanges; source: string }[] = [];
  for (const call of freshCalls) {
    const contactId = contactOf(call.contactId);
    const state = states.get(contactId)!;
    const before = state.existed ? state.profile : null;
    if (call.writeKey && before) refuseAddressChange(before, call.traits);
    const asked = call.callType === 'identify' ? listChangesFromTraits(call.traits) : undefined;
    // Joining a list is subscribing to what is sent to it: not from a public key. Leaving is anyone's right.
    const changes = asked && call.writeKey ? { join: [], leave: asked.leave } : asked;
    if (changes && hasListChanges(changes))
      listChanges.push({ contactId, changes, source: listSourceOf(call.context) });
    const traits = withoutListTraits(call.traits);
    if (Object.keys(traits).length > 0) {
      state.profile = withTraits(state.profile, traits);
      state.changed = true;
    }
    state.existed = true;
    if (call.group) {
      const key = JSON.stringify([contactId, call.group.groupId]);
      const group = groups.get(key) ?? { contactId, groupId: call.group.groupId, traits: {} };
      groups.set(key, { ...group, traits: { ...group.traits, ...call.group.traits } });
    }
    // An identify keeps the profile before and after it, so profile-change triggers are routed
    // (or routed again after an outage) against exactly this change, also for several
    // identifies of one contact in one batch.
    const shaped =
      call.type === 'identify' ? { ...call.context, profileChange: { before, after: state.profile } } : call.context;
    const context =
      call.mergeFrom.length > 0 && mergedInto.has(contactId) ? { ...shaped, mergedFrom: call.mergeFrom } : shaped;
    rows.push({
      messageId: call.messageId,
      type: call.type,
      contactId,
      name: call.name,
      properties: call.properties,
      context,
      occurredAt: call.occurredAt,
    });
  }
  await writeProfiles(
    tx,
    [...states.values()].filter((s) => s.changed).map((s) => s.profile),
  );
  await upsertContactGroups(tx, [...groups.values()]);

  const insertedEvents = await insertEvents(tx, rows, { routeWithinMs: opts.routeWithinMs });
  // Computed attributes (order count, total spent…) count each stored event once, with it.
  await applyStats(tx, insertedEvents);
  const inserted = new Set(insertedEvents.map((e) => e.messageId));
  for (const { contactId, changes, source } of listChanges) await applyListChanges(tx, contactId, changes, source);
  // Consent carried by identify traits (`consent: { email: 'subscribed' }`), and a connector's consent with its
  // proof, for calls stored now.
  const confirmEmail = new Map<string, number>();
  for (const call of freshCalls) {
    if (!inserted.has(call.messageId)) continue;
    const contactId = contactOf(call.contactId);
    if (call.consent) await applyProvenConsent(tx, contactId, call.consent);
    if (call.callType !== 'identify') continue;
    const source = listSourceOf(call.context);
    const events = await applyTraitConsent(tx, contactId, call.traits, call.occurredAt, source, call.writeKey);
    const pending = events.find((e) => e.properties.channel === 'email' && e.properties.status === 'pending');
    if (call.writeKey && pending) confirmEmail.set(call.messageId, pending.id);
  }
  const outcomes = await outcomesOf(tx, calls, fresh, rows, insertedEvents, stored);
  return outcomes.map((o) => {
    const consentEventId = o.status === 'stored' ? confirmEmail.get(o.event.messageId) : undefined;
    return consentEventId === undefined ? o : { ...o, confirmEmail: { consentEventId } };
  });
}

/**
 * A write key is public: a call with it may give a contact its first email or phone, never replace one, or anyone
 * could send a known contact's messages (and consent) to their own address.
 */
function refuseAddressChange(profile: Contact, traits: Record<string, unknown>): void {
  const email = text(traits.email)?.toLowerCase();
  const phone = text(traits.phone);
  const field = profile.email && email && email !== profile.email ? 'email' : undefined;
  const changed = field ?? (profile.phone && phone && phone !== profile.phone ? 'phone' : undefined);
  if (!changed) return;
  throw new HttpError(
    403,
    'address_change_refused',
    `a write key cannot change the ${changed} of a known contact (it is public: anyone could read it from the page ` +
      `and take over the contact's messages); send this change with an admin key (API_KEYS), from your server`,
    [{ path: ['traits', changed], message: `the contact already has another ${changed}` }],
  );
}

/**
 * Each call's outcome, in call order: stored by us, or a duplicate of the event stored before
 * (also by a concurrent request between our lookup and our insert) or earlier in this batch.
 */
async function outcomesOf(
  q: Queryable,
  calls: PreparedCall[],
  fresh: boolean[],
  rows: NewEvent[],
  insertedEvents: StoredEvent[],
  stored: Map<string, StoredEvent>,
): Promise<StoreOutcome[]> {
  const inserted = new Map(insertedEvents.map((e) => [e.messageId, e]));
  const raced = rows.filter((r) => !inserted.has(r.messageId)).map((r) => r.messageId);
  for (const [messageId, event] of await eventsByMessageIds(q, raced)) stored.set(messageId, event);
  return calls.map((call, index) => {
    const mine = fresh[index] ? inserted.get(call.messageId) : undefined;
    if (mine) return { status: 'stored', event: mine };
    const earlier = stored.get(call.messageId) ?? inserted.get(call.messageId);
    return { status: 'duplicate', event: earlier! };
  });
}

/**
 * Calls that only add an event (track, page, screen without traits, not an order, open or click): nothing of the
 * contact
 * changes, so there is no profile to read and write, and they can be stored in one statement.
 */
const onlyAddsAnEvent = (call: PreparedCall): boolean =>
  call.type === 'track' &&
  call.mergeFrom.length === 0 &&
  call.mergeFromIfExists === undefined &&
  call.group === undefined &&
  Object.keys(call.traits).length === 0 &&
  call.consent === undefined &&
  // An order, open or click also updates the contact's computed attributes, in the same transaction.
  !countsInStats(call);

/**
 * What storeInTransaction does for such calls, in one statement (insertNewEvents): the
 * messageIds already stored and those repeated in the batch are duplicates. Undefined when a
 * contact was being merged meanwhile: the general path then looks again.
 */
async function storeEventsOnly(db: Db, calls: PreparedCall[], opts: StoreOptions): Promise<StoreOutcome[] | undefined> {
  const firstOf = new Set<string>();
  const rows: NewEvent[] = [];
  for (const call of calls) {
    if (firstOf.has(call.messageId)) continue;
    firstOf.add(call.messageId);
    rows.push({
      messageId: call.messageId,
      type: call.type,
      contactId: call.contactId,
      name: call.name,
      properties: call.properties,
      context: call.context,
      occurredAt: call.occurredAt,
    });
  }
  const result = await insertNewEvents(db, rows, { routeWithinMs: opts.routeWithinMs });
  if (!result) return undefined;
  const { existing, inserted } = result;
  const seen = new Set<string>();
  const fresh = calls.map((call) => {
    if (existing.has(call.messageId) || seen.has(call.messageId)) return false;
    seen.add(call.messageId);
    return true;
  });
  const newRows = rows.filter((r) => !existing.has(r.messageId));
  return outcomesOf(db, calls, fresh, newRows, inserted, existing);
}

/**
 * Resolves every call's contact through earlier merges and the merges of this batch (in call
 * order), creates the contacts that do not exist and locks them all. A merge that committed
 * meanwhile shows as a locked row marked merged: resolve again.
 */
async function lockContacts(tx: Queryable, calls: PreparedCall[]) {
  for (let attempt = 0; attempt < MAX_LOCK_ATTEMPTS; attempt++) {
    const ids = [
      ...new Set(
        calls.flatMap((c) => [c.contactId, ...c.mergeFrom, ...(c.mergeFromIfExists ? [c.mergeFromIfExists] : [])]),
      ),
    ];
    const resolved = await resolveContactIds(tx, ids);
    const candidates = calls.flatMap((c) =>
      c.mergeFromIfExists && resolved.get(c.mergeFromIfExists) === c.mergeFromIfExists ? [c.mergeFromIfExists] : [],
    );
    const existing = candidates.length ? await readContacts(tx, candidates) : new Map<string, LockedContact>();

    // Merges of this batch, in call order: an id merged here resolves to its new contact for
    // every call of the batch (a visitor's browsing before login lands on the known contact).
    const local = new Map<string, string>();
    const canonical = (id: string): string => {
      let current = resolved.get(id) ?? id;
      for (let hop = 0; hop < calls.length && local.has(current); hop++) current = local.get(current)!;
      return current;
    };
    const merges: { from: string; into: string }[] = [];
    for (const call of calls) {
      const sources = [
        ...call.mergeFrom,
        ...(call.mergeFromIfExists && existing.get(call.mergeFromIfExists)?.mergedInto === null
          ? [call.mergeFromIfExists]
          : []),
      ];
      for (const from of sources) {
        const into = canonical(call.contactId);
        // Only an id not merged before: an anonymous id merged into another known contact
        // stays there (mergeContacts never moves a known contact because of it).
        if (canonical(from) !== from || from === into) continue;
        merges.push({ from, into });
        local.set(from, into);
      }
    }
    const finals = [...new Set(calls.map((c) => canonical(c.contactId)))].sort();
    const sources = merges.map((m) => m.from);
    const { created, locked } = await createAndLockContacts(tx, finals, [...new Set([...finals, ...sources])].sort());
    if ([...locked.values()].some((c) => c.mergedInto !== null)) continue;
    const mergedInto = new Set(merges.map((m) => m.into));
    const states = new Map<string, ContactState>(
      finals.map((id) => [
        id,
        { profile: profileOf(locked.get(id)!), existed: !created.has(id) || mergedInto.has(id), changed: false },
      ]),
    );
    return { contactOf: canonical, merges, states };
  }
  throw new Error('contacts of this batch kept being merged concurrently');
}

const profileOf = (c: LockedContact | Contact): Contact => ({
  id: c.id,
  email: c.email,
  phone: c.phone,
  traits: c.traits,
  createdAt: c.createdAt,
  updatedAt: c.updatedAt,
});

const text = (value: unknown): string | null =>
  typeof value === 'string' && value.trim() !== '' ? value.trim() : null;

/** What upsertContact does in SQL, here in memory: traits merged over, email and phone kept unless given. */
function withTraits(profile: Contact, traits: Record<string, unknown>): Contact {
  return {
    ...profile,
    traits: { ...profile.traits, ...traits },
    email: text(traits.email)?.toLowerCase() ?? profile.email,
    phone: text(traits.phone) ?? profile.phone,
    updatedAt: new Date().toISOString(),
  };
}
