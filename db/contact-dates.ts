/**
 * The calendar index (migration 017): contacts' date traits by (property, month, day), their
 * zone and normalised first name, kept by a trigger on `contacts`. Every read here is an index
 * lookup or a page: nothing scans the whole base on a timer.
 */
import type { Queryable } from './pool';

/**
 * Makes the database keep `property` in contact_dates from now on, and fills it for the
 * contacts already there (once, when first registered: one pass when a flow starts to use it).
 */
export async function registerCalendarProperty(q: Queryable, property: string): Promise<void> {
  const { rowCount } = await q.query('INSERT INTO calendar_properties (property) VALUES ($1) ON CONFLICT DO NOTHING', [
    property,
  ]);
  if (!rowCount) return;
  if (property.startsWith('computed.')) {
    // A computed date (flows/schema.ts COMPUTED_DATES): its UTC day, from the contact's stats.
    await q.query(
      `INSERT INTO contact_dates (contact_id, property, month, day, year)
       SELECT s.contact_id, $1, x.v[1], x.v[2], x.v[3]
       FROM contact_stats s JOIN contacts c ON c.id = s.contact_id AND c.merged_into IS NULL
       CROSS JOIN LATERAL (SELECT calendar_instant_parts(CASE $1 WHEN 'computed.firstOrderAt'
                           THEN s.first_order_at ELSE s.last_order_at END) AS v) x
       WHERE x.v IS NOT NULL
       ON CONFLICT (contact_id, property) DO NOTHING`,
      [property],
    );
    return;
  }
  await q.query(
    `INSERT INTO contact_dates (contact_id, property, month, day, year)
     SELECT c.id, $1, x.md[1], x.md[2], calendar_year(c.traits #> string_to_array($1, '.'))
     FROM contacts c CROSS JOIN LATERAL (SELECT calendar_month_day(c.traits #> string_to_array($1, '.')) AS md) x
     WHERE c.merged_into IS NULL AND x.md IS NOT NULL
     ON CONFLICT (contact_id, property) DO NOTHING`,
    [property],
  );
}

export interface DatedContact {
  contactId: string;
  month: number;
  day: number;
  /** The date's year (null: a year-less date): its anniversaries start the year after. */
  year: number | null;
  zone: string | null;
}

/** Contacts whose `property` falls on one of these (month, day) pairs. */
export async function contactsOnDays(
  q: Queryable,
  property: string,
  days: { month: number; day: number }[],
): Promise<DatedContact[]> {
  if (days.length === 0) return [];
  const { rows } = await q.query<{
    contact_id: string;
    month: number;
    day: number;
    year: number | null;
    zone: string | null;
  }>(
    `SELECT d.contact_id, d.month, d.day, d.year, c.zone
     FROM contact_dates d JOIN contact_calendar c ON c.contact_id = d.contact_id
     WHERE d.property = $1 AND (d.month, d.day) IN (SELECT * FROM unnest($2::smallint[], $3::smallint[]))
     ORDER BY d.contact_id`,
    [property, days.map((d) => d.month), days.map((d) => d.day)],
  );
  return rows.map((r) => ({ contactId: r.contact_id, month: r.month, day: r.day, year: r.year, zone: r.zone }));
}

/** The (month, day) pairs some contact's `property` falls on: 366 index probes at most. */
export async function daysWithContacts(q: Queryable, property: string): Promise<{ month: number; day: number }[]> {
  const { rows } = await q.query<{ month: number; day: number }>(
    `SELECT extract(month FROM d)::int AS month, extract(day FROM d)::int AS day
     FROM generate_series(date '2000-01-01', date '2000-12-31', interval '1 day') AS d
     WHERE EXISTS (SELECT 1 FROM contact_dates x WHERE x.property = $1 AND x.month = extract(month FROM d) AND x.day = extract(day FROM d))`,
    [property],
  );
  return rows;
}

export interface NamedContact {
  contactId: string;
  firstName: string;
  zone: string | null;
}

/** Contacts whose first name, or its first part, is one of these keys (the caller applies the compound rule). */
export async function contactsNamed(q: Queryable, keys: string[]): Promise<NamedContact[]> {
  if (keys.length === 0) return [];
  const { rows } = await q.query<{ contact_id: string; first_name: string; zone: string | null }>(
    `SELECT contact_id, first_name, zone FROM contact_calendar
     WHERE first_name = ANY($1::text[]) OR split_part(first_name, '-', 1) = ANY($1::text[])
     ORDER BY contact_id`,
    [keys],
  );
  return rows.map((r) => ({ contactId: r.contact_id, firstName: r.first_name, zone: r.zone }));
}

/** Which of these name keys some contact bears (whole, or as the first part of a compound). */
export async function namesInUse(q: Queryable, keys: string[]): Promise<string[]> {
  const { rows } = await q.query<{ key: string }>(
    `SELECT k AS key FROM unnest($1::text[]) AS k
     WHERE EXISTS (SELECT 1 FROM contact_calendar WHERE first_name = k) OR EXISTS (SELECT 1 FROM contact_calendar WHERE split_part(first_name, '-', 1) = k)`,
    [keys],
  );
  return rows.map((r) => r.key);
}

/**
 * When a contact's calendar facts last changed (ms; null: never), as the database stamped it.
 * The calendar clock compares it with the last it saw: a different value is a change to look at.
 */
export async function calendarChangeMark(q: Queryable): Promise<number | null> {
  const { rows } = await q.query<{ mark: Date | null }>(
    `SELECT greatest((SELECT max(changed_at) FROM contact_dates), (SELECT max(changed_at) FROM contact_calendar)) AS mark`,
  );
  return rows[0].mark?.getTime() ?? null;
}

/** Every time zone a contact has had (the trait as written; the caller checks it). */
export async function zonesInUse(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ zone: string }>('SELECT zone FROM calendar_zones ORDER BY zone');
  return rows.map((r) => r.zone);
}

/**
 * A page of contacts in these zones (`orUnzoned`: also those whose zone is missing or not one
 * of `validZones`, who live in the default zone), after `afterId`, by id.
 */
export async function contactsInZones(
  q: Queryable,
  zones: string[],
  opts: { orUnzoned: boolean; validZones: string[]; afterId: string; limit: number },
): Promise<{ contactId: string }[]> {
  const { rows } = await q.query<{ contact_id: string }>(
    `SELECT contact_id FROM contact_calendar
     WHERE contact_id > $1 AND (zone = ANY($2::text[]) OR ($3 AND (zone IS NULL OR NOT zone = ANY($4::text[]))))
     ORDER BY contact_id LIMIT $5`,
    [opts.afterId, zones, opts.orUnzoned, opts.validZones, opts.limit],
  );
  return rows.map((r) => ({ contactId: r.contact_id }));
}
