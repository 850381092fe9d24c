/** Quiet hours in the contact's time zone (luxon). Pure. */
import { DateTime } from 'luxon';
import type { QuietWindow } from '../flows/schema';

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** When `now` falls in the quiet window, the instant it ends (ms); otherwise undefined. */
export function quietUntil(now: number, window: QuietWindow, zone: string): number | undefined {
  const local = DateTime.fromMillis(now, { zone });
  const at = local.hour * 60 + local.minute;
  const from = minutes(window.from);
  const to = minutes(window.to);
  const inside = from <= to ? at >= from && at < to : at >= from || at < to;
  if (!inside) return undefined;
  let end = local.set({ hour: Math.floor(to / 60), minute: to % 60, second: 0, millisecond: 0 });
  if (end.toMillis() <= now) end = end.plus({ days: 1 });
  return end.toMillis();
}
