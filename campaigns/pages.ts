/** How many recipients one page activity takes (pure: the workflow imports it). */

/** SendGrid takes up to 1,000 personalizations per mail send: the largest page. */
export const MAX_PAGE = 1_000;

/** At most what the throttle allows in about 5 seconds, so the pace stays even. */
export function pageSize(throttlePerMinute: number | null): number {
  return throttlePerMinute === null ? MAX_PAGE : Math.max(1, Math.min(MAX_PAGE, Math.ceil(throttlePerMinute / 12)));
}
