/**
 * Static lists: create, rename, delete; members added in bulk, removed one by one, paged.
 * Joins and leaves are stored `List Joined` / `List Left` events (db/lists.ts), routed to
 * flows by the router loop within about a second of the answer.
 */
import { Router } from 'express';
import { z } from 'zod';
import {
  createList,
  deleteList,
  getList,
  getListWithCount,
  joinList,
  leaveList,
  listLists,
  listMembers,
  membershipHistory,
  updateList,
  contactsByEmail,
  ensureContacts,
} from '../../db/lists';
import { MEMBERSHIP_SOURCE } from '../../audiences/list-events';
import { canonicalContactId, resolveContactIds } from '../../db/contact-merge';
import { inTransaction, type Db } from '../../db/pool';
import { slug } from '../../flows/schema';
import { HttpError, notFound } from '../errors';
import { MAX_ID_LENGTH, parseOr400, storableParam } from '../validate';

/** Members one request may add: a bigger audience goes through several requests or an import. */
export const MAX_MEMBERS_PER_REQUEST = 1000;
const MAX_PAGE = 1000;

const name = z.string().trim().min(1, 'must not be empty').max(200);
const description = z.string().max(2000);

export const newList = z.strictObject({ id: slug, name, description: description.optional() });

export const listChange = z
  .strictObject({ name: name.optional(), description: description.nullable().optional() })
  .refine((c) => c.name !== undefined || c.description !== undefined, {
    message: 'give name or description to change',
  });

/** How a membership started: api (default), import, identify, shopify, a form's name… */
export const membershipSource = z
  .string()
  .regex(MEMBERSHIP_SOURCE, 'use 1-64 lowercase letters, digits or "_", starting with a letter');

const member = z
  .strictObject({ contactId: z.string().min(1).max(MAX_ID_LENGTH).optional(), email: z.email().max(320).optional() })
  .refine((m) => (m.contactId === undefined) !== (m.email === undefined), {
    message: 'give either contactId or email',
  });

export const newMembers = z.strictObject({
  contacts: z
    .array(member)
    .min(1, 'add at least one contact')
    .max(MAX_MEMBERS_PER_REQUEST, `at most ${MAX_MEMBERS_PER_REQUEST} contacts per request`),
  source: membershipSource.default('api'),
});

export const memberPage = z.strictObject({
  /** The `nextCursor` of the previous page. */
  cursor: z
    .string()
    .regex(/^[1-9][0-9]{0,14}$/, 'use the nextCursor of the previous page')
    .optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
});

export const leaveQuery = z.strictObject({ source: membershipSource.default('api') });

export function listsRouter(deps: { db: Db }): Router {
  const router = Router();
  router.param('id', storableParam('id'));
  router.param('contactId', storableParam('contactId'));

  router.get('/', async (_req, res) => {
    res.json({ lists: await listLists(deps.db) });
  });

  router.post('/', async (req, res) => {
    const body = parseOr400(newList, req.body);
    const list = await createList(deps.db, body);
    if (!list) throw new HttpError(409, 'already_exists', `list "${body.id}" already exists`);
    res.status(201).json({ ...list, memberCount: 0 });
  });

  router.get('/:id', async (req, res) => {
    const list = await getListWithCount(deps.db, req.params.id);
    if (!list) throw notFound(`list "${req.params.id}"`);
    res.json(list);
  });

  router.patch('/:id', async (req, res) => {
    const change = parseOr400(listChange, req.body);
    const list = await updateList(deps.db, req.params.id, change);
    if (!list) throw notFound(`list "${req.params.id}"`);
    res.json(list);
  });

  /** Members leave first (a `List Left` event each, source `list_deleted`), then the list goes. */
  router.delete('/:id', async (req, res) => {
    const deleted = await inTransaction(deps.db, (tx) => deleteList(tx, req.params.id));
    if (!deleted) throw notFound(`list "${req.params.id}"`);
    res.json({ id: req.params.id, deleted: true, membersLeft: deleted.membersLeft });
  });

  /**
   * Adds contacts by id or by email; idempotent (a member stays as is, with no new event).
   * An unknown id is created like an identify would; an unknown email becomes a contact whose
   * id is the address.
   */
  router.post('/:id/members', async (req, res) => {
    const body = parseOr400(newMembers, req.body);
    const outcome = await inTransaction(deps.db, async (tx) => {
      const list = await getList(tx, req.params.id, { lock: 'share' });
      if (!list) throw notFound(`list "${req.params.id}"`);
      // An id merged into another contact (an anonymous visitor who logged in) is that contact.
      const canonical = await resolveContactIds(
        tx,
        body.contacts.flatMap((c) => (c.contactId !== undefined ? [c.contactId] : [])),
      );
      const emails = body.contacts.flatMap((c) => (c.email !== undefined ? [c.email] : []));
      const createdById = await ensureContacts(tx, [...canonical.values()]);
      const { byEmail, created: createdByEmail } = await contactsByEmail(tx, emails);
      const contactIds = body.contacts.map((c) =>
        c.contactId !== undefined ? canonical.get(c.contactId)! : byEmail.get(c.email!.trim().toLowerCase())!,
      );
      const joined = new Set(await joinList(tx, list, contactIds, body.source));
      return { contactIds, joined, created: createdById.length + createdByEmail.length };
    });
    const reported = new Set<string>();
    const members = outcome.contactIds.map((contactId, index) => {
      // A contact named twice joins once: the first mention reports it.
      const status = outcome.joined.has(contactId) && !reported.has(contactId) ? 'joined' : 'already_member';
      reported.add(contactId);
      return { index, contactId, status };
    });
    res.json({
      listId: req.params.id,
      joined: outcome.joined.size,
      alreadyMembers: members.length - outcome.joined.size,
      contactsCreated: outcome.created,
      members,
    });
  });

  router.get('/:id/members', async (req, res) => {
    const page = parseOr400(memberPage, req.query);
    if (!(await getList(deps.db, req.params.id))) throw notFound(`list "${req.params.id}"`);
    const { members, next } = await listMembers(deps.db, req.params.id, {
      after: page.cursor ? Number(page.cursor) : undefined,
      limit: page.limit,
    });
    // null on the last page, like every paginated answer (it was absent before: absent still reads as falsy).
    res.json({ members, nextCursor: next !== undefined ? String(next) : null });
  });

  /** The contact's periods on the list (joined, how, left, how), oldest first. */
  router.get('/:id/members/:contactId', async (req, res) => {
    if (!(await getList(deps.db, req.params.id))) throw notFound(`list "${req.params.id}"`);
    const periods = await membershipHistory(deps.db, req.params.id, req.params.contactId);
    res.json({
      listId: req.params.id,
      contactId: req.params.contactId,
      member: periods.some((p) => p.leftAt === null),
      periods,
    });
  });

  /** Idempotent: a contact that is not a member answers `left: false`. `?source=` says how (default api). */
  router.delete('/:id/members/:contactId', async (req, res) => {
    const { source } = parseOr400(leaveQuery, req.query);
    const left = await inTransaction(deps.db, async (tx) => {
      const list = await getList(tx, req.params.id, { lock: 'share' });
      if (!list) throw notFound(`list "${req.params.id}"`);
      return leaveList(tx, list, [await canonicalContactId(tx, req.params.contactId)], source);
    });
    res.json({ listId: req.params.id, contactId: req.params.contactId, left: left.length > 0 });
  });

  return router;
}
