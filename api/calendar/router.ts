import { Router } from 'express';
import { z } from 'zod';
import { isKnownMoment, listMoments, nextMomentDate } from '../../calendar/moments';
import { nameDay, nameDayKey, namesOn } from '../../calendar/name-days';
import { notFound } from '../errors';
import { parseOr400 } from '../validate';

const year = z.coerce.number().int().min(1).max(9999);
const isoDay = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, 'use "YYYY-MM-DD"');
export const momentsQuery = z.strictObject({ year: year.optional() });
export const nextQuery = z.strictObject({ after: isoDay.optional() });
export const nameDaysQuery = z.union([
  z.strictObject({ name: z.string().min(1).max(200) }),
  z.strictObject({ day: z.string().regex(/^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, 'use "MM-DD"') }),
]);

/** The calendar date triggers and campaigns use: moments of a year, and French name days. */
export function calendarRouter(): Router {
  const router = Router();
  router.get('/moments', (req, res) => {
    const q = parseOr400(momentsQuery, req.query);
    const y = q.year ?? new Date().getUTCFullYear();
    res.json({ year: y, moments: listMoments(y) });
  });
  router.get('/moments/:id/next', (req, res) => {
    const { after } = parseOr400(nextQuery, req.query);
    if (!isKnownMoment(req.params.id)) throw notFound(`moment ${req.params.id}`);
    const from = after ?? new Date().toISOString().slice(0, 10);
    res.json({ id: req.params.id, after: from, date: nextMomentDate(req.params.id, from) ?? null });
  });
  router.get('/name-days', (req, res) => {
    const q = parseOr400(nameDaysQuery, req.query);
    if ('day' in q) return void res.json({ day: q.day, names: namesOn(q.day) });
    res.json({ name: q.name, key: nameDayKey(q.name) ?? null, day: nameDay(q.name) ?? null });
  });
  return router;
}
