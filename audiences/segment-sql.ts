/**
 * A segment's condition compiled to SQL (pure: text and parameters, no I/O). One compiler for
 * the bulk build (set-based over contacts and events), the preview, and the incremental
 * re-evaluation of one contact, so they can never disagree. It follows the rules of
 * flows/conditions.ts (the same condition evaluated for a journey gives the same answer).
 *
 * Each event condition becomes one aggregate per contact (a CTE grouped by contact_id, with
 * count, sum/min/max and first/last time over the matching events in its window), joined to
 * `contacts c`; everything else is an expression on `c`. Every leaf is COALESCEd to a boolean:
 * SQL's NULL would otherwise leak through NOT.
 *
 * Besides membership it compiles `next flip`: the earliest moment after now at which the
 * answer can change with time alone (an event leaving a window, "last order 90 days ago"
 * being reached, a date trait ageing). The clock workflow wakes then and evaluates again.
 */
import { asNumber } from '../flows/conditions';
import { parseDuration } from '../flows/duration';
import type { AggregateCondition, Condition, EventCondition, PropertyCondition } from '../flows/schema';
import { EVENTS } from '../flows/event-names';

/** Where the statement looks: one contact, a range of contact ids (a build chunk), every contact. */
export type Scope = 'contact' | 'range' | 'all';

/**
 * Parameters shared by every segment compiled into one statement. $1 is `now` (timestamptz);
 * in scope `contact` $2 is the contact id; in scope `range` $2 < id <= $3.
 */
export class SqlParams {
  readonly values: unknown[];
  constructor(now: Date, scope: Scope, bounds: string[] = []) {
    this.values = [now.toISOString(), ...(scope === 'all' ? [] : bounds)];
  }
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

export interface CompiledSegment {
  /** `name AS (SELECT ...)` items for a WITH clause. */
  ctes: string[];
  /** LEFT JOINs of those CTEs onto `contacts c`. */
  joins: string;
  /** Boolean expression: is `c` a member. */
  member: string;
  /** timestamptz expression (NULL: never by time alone). */
  nextFlip: string;
}

const NOW = '$1::timestamptz';
const ms = (text: string) => parseDuration(text) ?? 0;
const ago = (span: number) => `(${NOW} - interval '${span} milliseconds')`;
const plus = (at: string, span: number) => `(${at} + interval '${span} milliseconds')`;

/** The JSON at a dotted path of a jsonb expression (`a.b.0` reads arrays by index, like readPath). */
const at = (json: string, path: string[], p: SqlParams) =>
  path.length === 0 ? json : `(${json} #> ${p.add(path)}::text[])`;

/** A profile path: id, email, phone and created_at are columns, the rest traits (profileOf). */
function profileJson(property: string, p: SqlParams): string {
  const [head, ...rest] = property.split('.');
  if (head === 'id' || head === 'email' || head === 'phone' || head === 'created_at')
    return at(`to_jsonb(c.${head})`, rest, p);
  return at('c.traits', property.split('.'), p);
}

function propertySql(json: string, cond: PropertyCondition, p: SqlParams): string {
  const present = `(${json} IS NOT NULL AND jsonb_typeof(${json}) <> 'null')`;
  if (cond.op === 'exists') return present;
  if (cond.op === 'not_exists' || !('value' in cond)) return `(NOT ${present})`;
  // Comparing with the trigger: refused for segments at save (segmentIssues); never true here.
  if (typeof cond.value === 'object') return 'false';
  const value = cond.value;
  const equals = () => {
    const number = asNumber(value);
    const same = `${json} = ${p.add(JSON.stringify(value))}::jsonb`;
    return `COALESCE(${number === undefined ? same : `(${same} OR parcours_num(${json}) = ${p.add(number)}::numeric)`}, false)`;
  };
  switch (cond.op) {
    case 'equals':
      return equals();
    case 'not_equals':
      return `(NOT ${equals()})`;
    case 'contains': {
      const inArray = `(jsonb_typeof(${json}) = 'array' AND ${json} @> jsonb_build_array(${p.add(JSON.stringify(value))}::jsonb))`;
      const inString =
        typeof value === 'string'
          ? ` OR (jsonb_typeof(${json}) = 'string' AND strpos(${json} #>> '{}', ${p.add(value)}) > 0)`
          : '';
      return `COALESCE(${inArray}${inString}, false)`;
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return `COALESCE(parcours_num(${json}) ${SQL_OP[cond.op]} ${p.add(value)}::numeric, false)`;
    case 'before':
    case 'after':
      return `COALESCE(parcours_time(${json}) ${cond.op === 'before' ? '<' : '>'} ${p.add(new Date(Date.parse(String(value))).toISOString())}::timestamptz, false)`;
    case 'within_last':
      return `COALESCE(parcours_time(${json}) BETWEEN ${ago(ms(value as string))} AND ${NOW}, false)`;
    case 'more_than_ago':
      return `COALESCE(parcours_time(${json}) < ${ago(ms(value as string))}, false)`;
  }
}

const SQL_OP: Record<AggregateCondition['op'] | 'gt' | 'gte' | 'lt' | 'lte', string> = {
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  eq: '=',
};

/** When a date property ages past its window: the flip candidates of within_last / more_than_ago. */
function propertyFlips(json: string, cond: PropertyCondition): string[] {
  if (cond.op !== 'within_last' && cond.op !== 'more_than_ago') return [];
  const time = `parcours_time(${json})`;
  // within_last holds from the date (a future date enters then) to date + span; more_than_ago after date + span.
  const end = plus(time, ms(cond.value) + 1);
  return cond.op === 'within_last' ? [time, end] : [end];
}

/**
 * The event aggregates a statement needs, one per distinct (event, window, where): twenty
 * segments on "Order Completed" read the contact's orders a handful of times, not twenty.
 */
export class EventAggregates {
  private readonly byKey = new Map<
    string,
    { name: string; from: string; columns: Map<string, { name: string; sql: string }> }
  >();

  constructor(
    private readonly p: SqlParams,
    private readonly scope: Scope,
    /**
     * Where event conditions without `within` start counting: a journey counts from its trigger (flows/conditions.ts
     * `windowStart`); a segment, which has none, counts the whole history.
     */
    private readonly eventsFrom?: Date,
  ) {}

  /** The CTE name for these matching events; `aggregate` adds a column (sum/min/max of a property) and returns it. */
  source(c: EventCondition): { name: string; aggregate: (kind: 'sum' | 'min' | 'max', property: string) => string } {
    const from = c.within ? undefined : this.eventsFrom;
    const key = JSON.stringify([c.event, c.within ?? null, c.where ?? [], from ?? null]);
    let entry = this.byKey.get(key);
    if (!entry) {
      const window = c.within
        ? ` AND e.occurred_at >= ${ago(ms(c.within))}`
        : from
          ? ` AND e.occurred_at >= ${this.p.add(from.toISOString())}::timestamptz`
          : '';
      const where = (c.where ?? [])
        .map((w) => ` AND ${propertySql(at('e.properties', w.property.split('.'), this.p), w, this.p)}`)
        .join('');
      const filter =
        this.scope === 'contact'
          ? ' AND e.contact_id = $2'
          : this.scope === 'range'
            ? ' AND e.contact_id > $2 AND e.contact_id <= $3'
            : '';
      entry = {
        name: `ev${this.byKey.size}`,
        from: `FROM events e WHERE e.type = 'track' AND e.name = ${this.p.add(c.event)}${window}${where}${filter}`,
        columns: new Map(),
      };
      this.byKey.set(key, entry);
    }
    const found = entry;
    return {
      name: found.name,
      aggregate: (kind, property) => {
        const columnKey = `${kind}:${property}`;
        let column = found.columns.get(columnKey);
        if (!column) {
          column = {
            name: `${kind}_${found.columns.size}`,
            sql: `${kind}(parcours_num(${at('e.properties', property.split('.'), this.p)}))`,
          };
          found.columns.set(columnKey, column);
        }
        return `${found.name}.${column.name}`;
      },
    };
  }

  ctes(): string[] {
    return [...this.byKey.values()].map((e) => {
      const columns = [...e.columns.values()].map((c) => `${c.sql} AS ${c.name}`);
      return `${e.name} AS (SELECT e.contact_id, count(*) AS n, min(e.occurred_at) AS first_at, max(e.occurred_at) AS last_at${columns.map((x) => `, ${x}`).join('')} ${e.from} GROUP BY e.contact_id)`;
    });
  }

  joins(): string {
    return [...this.byKey.values()].map((e) => `LEFT JOIN ${e.name} ON ${e.name}.contact_id = c.id`).join(' ');
  }
}

class Compiler {
  readonly flips: string[] = [];

  constructor(
    private readonly p: SqlParams,
    private readonly events: EventAggregates,
  ) {}

  condition(c: Condition): string {
    if ('all' in c) return `(${c.all.map((x) => this.condition(x)).join(' AND ')})`;
    if ('any' in c) return `(${c.any.map((x) => this.condition(x)).join(' OR ')})`;
    if ('not' in c) return `(NOT ${this.condition(c.not)})`;
    if ('profile' in c) {
      const json = profileJson(c.profile.property, this.p);
      this.flips.push(...propertyFlips(json, c.profile));
      return propertySql(json, c.profile, this.p);
    }
    if ('segment' in c)
      return `EXISTS (SELECT 1 FROM segment_members sm WHERE sm.segment_id = ${this.p.add(c.segment)} AND sm.contact_id = c.id AND sm.exited_at IS NULL)`;
    if ('list' in c)
      return `EXISTS (SELECT 1 FROM list_memberships lm WHERE lm.list_id = ${this.p.add(c.list)} AND lm.contact_id = c.id AND lm.left_at IS NULL)`;
    if ('consent' in c) {
      return `(COALESCE((SELECT cc.status FROM contact_consent cc WHERE cc.contact_id = c.id AND cc.channel = ${this.p.add(c.consent.channel)}), 'never_asked') = ${this.p.add(c.consent.status)})`;
    }
    // Journey-only kinds (trigger, message) are refused for segments at save.
    if ('trigger' in c || 'message' in c) return 'false';
    return this.event(c);
  }

  private event(c: EventCondition): string {
    const source = this.events.source(c);
    const name = source.name;
    const n = `COALESCE(${name}.n, 0)`;
    const parts: string[] = [];
    const aggregates = c.sum || c.min || c.max || c.first || c.last;
    const count = c.count ?? (aggregates ? undefined : { op: 'gte' as const, value: 1 });
    if (count) parts.push(`${n} ${count.op === 'eq' ? '=' : SQL_OP[count.op]} ${count.value}`);
    // A sum over no value is 0; a min or max over none does not hold (flows/conditions.ts).
    if (c.sum)
      parts.push(
        `COALESCE(${source.aggregate('sum', c.sum.property)}, 0) ${SQL_OP[c.sum.op]} ${this.p.add(c.sum.value)}::numeric`,
      );
    if (c.min)
      parts.push(
        `COALESCE(${source.aggregate('min', c.min.property)} ${SQL_OP[c.min.op]} ${this.p.add(c.min.value)}::numeric, false)`,
      );
    if (c.max)
      parts.push(
        `COALESCE(${source.aggregate('max', c.max.property)} ${SQL_OP[c.max.op]} ${this.p.add(c.max.value)}::numeric, false)`,
      );
    for (const [occ, column] of [
      [c.first, 'first_at'],
      [c.last, 'last_at'],
    ] as const) {
      if (!occ) continue;
      const span = ms(occ.value);
      parts.push(`COALESCE(${name}.${column} ${occ.op === 'within_last' ? '>' : '<='} ${ago(span)}, false)`);
      // Both flip when the time reaches first/last + span.
      this.flips.push(plus(`${name}.${column}`, span));
    }
    // The oldest event in the window leaves it 1 ms after window end: counts and sums change.
    if (c.within) this.flips.push(plus(`${name}.first_at`, ms(c.within) + 1));
    return `(${parts.join(' AND ') || 'true'})`;
  }
}

/**
 * Membership and next-flip expressions of one condition; its event aggregates go to `events` (shared across segments).
 */
export function compileCondition(
  condition: Condition,
  p: SqlParams,
  events: EventAggregates,
): { member: string; nextFlip: string } {
  const compiler = new Compiler(p, events);
  const member = compiler.condition(condition);
  // Rounded up to the millisecond: clocks and Temporal count in milliseconds, and a clock woken
  // a fraction of one early would find nothing changed and the same moment again.
  const earliest = `(SELECT min(f) AS f FROM (VALUES ${compiler.flips.map((f) => `(${f})`).join(', ')}) AS flips(f) WHERE f > ${NOW})`;
  const nextFlip =
    compiler.flips.length === 0
      ? 'NULL::timestamptz'
      : `(SELECT date_trunc('milliseconds', f) + CASE WHEN f > date_trunc('milliseconds', f) THEN interval '1 millisecond' ELSE interval '0' END FROM ${earliest} AS e)`;
  return { member, nextFlip };
}

/** Compiles one segment's condition with its own event aggregates. */
export function compileSegment(condition: Condition, p: SqlParams, scope: Scope): CompiledSegment {
  const events = new EventAggregates(p, scope);
  const compiled = compileCondition(condition, p, events);
  return { ctes: events.ctes(), joins: events.joins(), ...compiled };
}

const withClause = (ctes: string[]) => `WITH at_time AS (SELECT ${NOW} AS now)${ctes.map((c) => `, ${c}`).join('')} `;

/** Members among contacts in (lo, hi], inserted as the build's memberships (no event: see db/segments.ts). */
export function buildChunkSql(
  condition: Condition,
  segmentId: string,
  now: Date,
  lo: string,
  hi: string,
): { text: string; values: unknown[] } {
  const p = new SqlParams(now, 'range', [lo, hi]);
  const s = compileSegment(condition, p, 'range');
  const id = p.add(segmentId);
  return {
    text: `${withClause(s.ctes)}INSERT INTO segment_members (segment_id, contact_id, seq, entered_at, source)
      SELECT ${id}, c.id, 1, ${NOW}, 'build' FROM contacts c ${s.joins} WHERE c.id > $2 AND c.id <= $3 AND ${s.member}
      ON CONFLICT DO NOTHING`,
    values: p.values,
  };
}

/**
 * Contacts in (lo, hi] whose membership can flip with time, with that moment (clocks to arm
 * after a build); `members`: only members (true), only non-members (false), or both.
 */
export function flipsInRangeSql(
  condition: Condition,
  now: Date,
  lo: string,
  hi: string,
  members?: boolean,
): { text: string; values: unknown[] } {
  const p = new SqlParams(now, 'range', [lo, hi]);
  const s = compileSegment(condition, p, 'range');
  const which = members === undefined ? '' : ` AND ${members ? '' : 'NOT '}${s.member}`;
  return {
    // Contacts whose clock is armed for that moment or earlier already need no signal.
    text: `${withClause(s.ctes)}SELECT id, due FROM (SELECT c.id, ${s.nextFlip} AS due FROM contacts c ${s.joins} WHERE c.id > $2 AND c.id <= $3${which}) x
      WHERE due IS NOT NULL AND NOT EXISTS (SELECT 1 FROM segment_clocks k WHERE k.contact_id = x.id AND k.due_at > ${NOW} AND k.due_at <= x.due)`,
    values: p.values,
  };
}

/** Count and a sample of the members of a condition over every contact (preview). */
export function previewSql(
  condition: Condition,
  now: Date,
  sample: number,
): { count: { text: string; values: unknown[] }; sample: { text: string; values: unknown[] } } {
  const build = (select: string, tail: string) => {
    const p = new SqlParams(now, 'all');
    const s = compileSegment(condition, p, 'all');
    return {
      text: `${withClause(s.ctes)}SELECT ${select} FROM contacts c ${s.joins} WHERE ${s.member}${tail}`,
      values: p.values,
    };
  };
  return {
    count: build('count(*)::int AS count', ''),
    sample: build('c.id, c.email, c.phone, c.traits', ` ORDER BY c.id LIMIT ${Math.max(1, Math.floor(sample))}`),
  };
}

export interface ContactEvaluation {
  segmentId: string;
  member: boolean;
  nextFlip: Date | null;
  /** Currently a member (before this evaluation). */
  was: boolean;
}

/** A segment as the upkeep statement needs it. */
export interface UpkeepSegment {
  id: string;
  name: string;
  condition: Condition;
  /** The stored events' message ids start with it (db/segments.ts: messageIdPrefix). */
  messageIdPrefix: string;
  /** Whether waiting can move a non-member in / a member out (flows/segment-deps.ts timeDirection). */
  canRise: boolean;
  canFall: boolean;
}

export interface UpkeepOptions {
  /** Stored on the entries and exits: 'event' (the router) or 'clock' (the segment clock). */
  source: string;
  causeEventId?: number;
  /**
   * Also store the moment the contact's clock must wake, with `arm_pending`, when it comes
   * earlier than the one stored (the arming pass signals Temporal: routing/segment-clock-arming.ts).
   */
  storeClock: boolean;
}

/**
 * ONE statement keeping one contact's memberships of several segments (the router's hook pays
 * one round trip per event however many segments depend on it and however many change):
 * evaluates them at once (sharing the event aggregates), inserts the entries and closes the
 * stays of the exits, stores a `Segment Entered` / `Segment Exited` event per change (one
 * stored fact each, due at once for the router loop, which routes them in bulk), and, with
 * `storeClock`, the clock's moment. Returns a row per segment, with the change applied (an
 * entry or exit another writer applied first is not applied twice: the unique current stay and
 * `exited_at IS NULL` decide, as they did for one change per transaction).
 */
export function contactUpkeepSql(
  segments: readonly UpkeepSegment[],
  contactId: string,
  now: Date,
  opts: UpkeepOptions,
): { text: string; values: unknown[] } {
  const p = new SqlParams(now, 'contact', [contactId]);
  const events = new EventAggregates(p, 'contact');
  const rows = segments.map((segment, ord) => {
    const compiled = compileCondition(segment.condition, p, events);
    const flags = `${segment.canRise}, ${segment.canFall}`;
    return `(${ord}, ${p.add(segment.id)}::text, ${p.add(segment.name)}::text, ${p.add(segment.messageIdPrefix)}::text, ${flags}, ${compiled.member}, ${compiled.nextFlip})`;
  });
  const source = p.add(opts.source);
  const cause = p.add(opts.causeEventId ?? null);
  const clock = opts.storeClock
    ? `, clock AS (
        INSERT INTO segment_clocks (contact_id, due_at, arm_pending)
        SELECT $2, due, true FROM (SELECT min(next_flip) AS due FROM v WHERE CASE WHEN member THEN can_fall ELSE can_rise END) d WHERE due IS NOT NULL
        ON CONFLICT (contact_id) DO UPDATE SET due_at = EXCLUDED.due_at, arm_pending = true
          WHERE NOT (segment_clocks.due_at > ${NOW} AND segment_clocks.due_at <= EXCLUDED.due_at)
        RETURNING contact_id)`
    : '';
  return {
    text: `${withClause(events.ctes())}, v AS MATERIALIZED (
        -- A scalar subquery, not EXISTS: the planner must not turn it into a hash of every
        -- current membership (which it does when the table's statistics predate a build).
        SELECT v.*, COALESCE((SELECT true FROM segment_members m WHERE m.contact_id = $2 AND m.segment_id = v.segment_id AND m.exited_at IS NULL LIMIT 1), false) AS was
        FROM contacts c ${events.joins()}
        CROSS JOIN LATERAL (VALUES ${rows.join(', ')}) AS v(ord, segment_id, segment_name, message_prefix, can_rise, can_fall, member, next_flip)
        WHERE c.id = $2),
      entered AS (
        INSERT INTO segment_members (segment_id, contact_id, seq, entered_at, source)
        SELECT v.segment_id, $2, COALESCE((SELECT max(m.seq) FROM segment_members m WHERE m.segment_id = v.segment_id AND m.contact_id = $2), 0) + 1, ${NOW}, ${source}::text
        FROM v WHERE v.member AND NOT v.was AND EXISTS (SELECT 1 FROM segments s WHERE s.id = v.segment_id FOR KEY SHARE)
        ON CONFLICT DO NOTHING RETURNING segment_id, seq),
      exited AS (
        -- The segment ids as an array: the current stays' index leads with the segment, and a
        -- join the planner drives from the contact alone would read that whole index.
        UPDATE segment_members m SET exited_at = ${NOW}
        WHERE m.segment_id = ANY (ARRAY(SELECT v.segment_id FROM v WHERE NOT v.member AND v.was)) AND m.contact_id = $2 AND m.exited_at IS NULL
        RETURNING m.segment_id, m.seq),
      changes AS (SELECT segment_id, seq, 'entered' AS change FROM entered UNION ALL SELECT segment_id, seq, 'exited' FROM exited),
      stored AS (
        INSERT INTO events (message_id, type, contact_id, name, properties, context, occurred_at, next_route_at)
        SELECT v.message_prefix || ':' || $2 || ':' || ch.seq || ':' || ch.change, 'track', $2,
          CASE ch.change WHEN 'entered' THEN '${EVENTS.segmentEntered}' ELSE '${EVENTS.segmentExited}' END,
          jsonb_build_object('segment_id', v.segment_id, 'segment_name', v.segment_name, 'source', ${source}::text)
            || CASE WHEN ${cause}::bigint IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('cause_event_id', ${cause}::bigint) END,
          '{}'::jsonb, ${NOW}, now()
        FROM changes ch JOIN v ON v.segment_id = ch.segment_id ORDER BY v.ord
        ON CONFLICT (message_id) DO NOTHING)${clock}
      SELECT v.segment_id, v.member, v.next_flip, v.was, ch.change, ${opts.storeClock ? 'EXISTS (SELECT 1 FROM clock)' : 'false'} AS clock_stored
      FROM v LEFT JOIN changes ch ON ch.segment_id = v.segment_id ORDER BY v.ord`,
    values: p.values,
  };
}

/**
 * The journey side's event conditions, answered by the segment compiler for one contact: one boolean per condition, in
 * order, over every matching event however many there are (activities/facts.ts). The contact need not exist (no
 * events: counts are 0). `eventsFrom` is the journey's start, for conditions without `within`.
 */
export function eventConditionsSql(
  conditions: readonly EventCondition[],
  contactId: string,
  now: Date,
  eventsFrom?: Date,
): { text: string; values: unknown[] } {
  const p = new SqlParams(now, 'contact', [contactId]);
  const events = new EventAggregates(p, 'contact', eventsFrom);
  const answers = conditions.map((c, i) => `${compileCondition(c, p, events).member} AS t${i}`);
  return {
    text: `${withClause(events.ctes())}SELECT ${answers.join(', ')} FROM (SELECT $2::text AS id) c ${events.joins()}`,
    values: p.values,
  };
}
