/**
 * Temporal Cloud actions read off a workflow history, following Cloud's pricing model:
 * the workflow start, every timer started (including the implicit timer of a
 * `condition(fn, timeout)`), every activity attempt (first try and each retry), every
 * signal, every search-attribute upsert (attributes given at start are free).
 *
 * Not visible in a history, hence not counted: queries (each one is an action on Cloud),
 * heartbeats, and storage. Other billable events this workflow does not produce today
 * (markers, child workflows, updates, external signals) are reported as "other" so a
 * change of the workflow cannot hide them.
 */
import { temporal } from '@temporalio/proto';

const EventType = temporal.api.enums.v1.EventType;
type History = temporal.api.history.v1.IHistory;

export interface ActionCounts {
  starts: number;
  timers: number;
  activityAttempts: number;
  signals: number;
  searchAttributeUpserts: number;
  /** Billable event types outside the five above, by name. */
  other: Record<string, number>;
  total: number;
}

const OTHER_BILLABLE = [
  EventType.EVENT_TYPE_MARKER_RECORDED,
  EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
  EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
];

export function countActions(history: History): ActionCounts {
  const events = history.events ?? [];
  const counts: ActionCounts = {
    starts: 0,
    timers: 0,
    activityAttempts: 0,
    signals: 0,
    searchAttributeUpserts: 0,
    other: {},
    total: 0,
  };

  // ACTIVITY_TASK_STARTED is written once, when the activity closes, with the attempt it
  // closed on: attempts = that number. A scheduled activity that never started (cancelled,
  // or still in its first try) is one attempt.
  const attemptsByScheduledId = new Map<string, number>();
  for (const event of events) {
    if (event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
      attemptsByScheduledId.set(String(event.eventId), 1);
  }
  for (const event of events) {
    const started = event.activityTaskStartedEventAttributes;
    if (event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED && started) {
      attemptsByScheduledId.set(String(started.scheduledEventId), Math.max(1, started.attempt ?? 1));
    }
  }

  for (const event of events) {
    const type = event.eventType ?? EventType.EVENT_TYPE_UNSPECIFIED;
    if (type === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED) counts.starts++;
    else if (type === EventType.EVENT_TYPE_TIMER_STARTED) counts.timers++;
    else if (type === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) counts.signals++;
    else if (type === EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES) counts.searchAttributeUpserts++;
    else if (OTHER_BILLABLE.includes(type)) {
      const name = EventType[type];
      counts.other[name] = (counts.other[name] ?? 0) + 1;
    }
  }
  counts.activityAttempts = [...attemptsByScheduledId.values()].reduce((a, b) => a + b, 0);
  counts.total =
    counts.starts +
    counts.timers +
    counts.activityAttempts +
    counts.signals +
    counts.searchAttributeUpserts +
    Object.values(counts.other).reduce((a, b) => a + b, 0);
  return counts;
}

/** One table, one column per scenario. */
export function formatActionTable(columns: { title: string; counts: ActionCounts }[]): string {
  const rows: [string, (c: ActionCounts) => number][] = [
    ['workflow starts', (c) => c.starts],
    ['timers started', (c) => c.timers],
    ['activity attempts', (c) => c.activityAttempts],
    ['signals', (c) => c.signals],
    ['search-attribute upserts', (c) => c.searchAttributeUpserts],
  ];
  const otherNames = [...new Set(columns.flatMap((col) => Object.keys(col.counts.other)))];
  for (const name of otherNames) rows.push([name.replace(/^EVENT_TYPE_/, '').toLowerCase(), (c) => c.other[name] ?? 0]);
  rows.push(['total actions', (c) => c.total]);

  const labelWidth = Math.max(...rows.map(([label]) => label.length));
  const widths = columns.map((col) => Math.max(col.title.length, 5));
  const line = (label: string, cells: string[]) =>
    `  ${label.padEnd(labelWidth)}  ${cells.map((cell, i) => cell.padStart(widths[i])).join('  ')}`;
  const out = [
    line(
      '',
      columns.map((col) => col.title),
    ),
    `  ${'-'.repeat(labelWidth + widths.reduce((a, w) => a + w + 2, 0))}`,
  ];
  for (const [label, read] of rows) {
    if (label === 'total actions') out.push(`  ${'-'.repeat(labelWidth + widths.reduce((a, w) => a + w + 2, 0))}`);
    out.push(
      line(
        label,
        columns.map((col) => String(read(col.counts))),
      ),
    );
  }
  return out.join('\n');
}
