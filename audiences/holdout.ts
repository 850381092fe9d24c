/**
 * Holdout groups: a flow (or campaign) keeps a control share of its contacts that enters like
 * everyone else but receives no marketing message, so what the messages earn can be measured
 * against what the same kind of contacts do without them.
 *
 * Membership is sticky and needs no storage: a contact is in the control group when
 * md5("<key>:<contact id>"), its first 32 bits read as a fraction of 2^32, is below the share.
 * The same contact is always in the same group of the same flow; different flows draw
 * independently. Postgres computes the same number (HOLDOUT_FRACTION_SQL) so stats split
 * groups without reading every contact into the process.
 *
 * The comparison (holdoutLift) is per contact, from entry: conversion rate (contacts with at
 * least one conversion / contacts), conversions and revenue per contact, each for the treated
 * and control groups; the lift is treated minus control (absolute) and that over control
 * (relative). 95 % confidence intervals of the absolute differences use the normal
 * approximation: for the conversion rate the difference of two proportions (Wald,
 * SE = sqrt(pT(1-pT)/nT + pC(1-pC)/nC)); for revenue per contact the difference of two means
 * with unequal variances (Welch, SE = sqrt(sT²/nT + sC²/nC)); interval = difference ± 1.96 SE.
 * Good enough from a few dozen contacts per group; null below 2 contacts in a group.
 */
import { createHash } from 'node:crypto';

/** The key a flow's holdout hashes with (campaigns use `campaign:<id>`). */
export const flowHoldoutKey = (flowId: string) => `flow:${flowId}`;

/** Where a contact falls in [0, 1) for this key: below the share means control. */
export function holdoutFraction(key: string, contactId: string): number {
  const digest = createHash('md5').update(`${key}:${contactId}`, 'utf8').digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

export function isHeldOut(key: string, contactId: string, share: number): boolean {
  return share > 0 && holdoutFraction(key, contactId) < share;
}

/**
 * holdoutFraction in SQL, given SQL expressions for the key and the contact id (Postgres's
 * md5 of UTF-8 text hashes the same bytes).
 */
export const holdoutFractionSql = (key: string, contactId: string) =>
  `(('x' || substr(md5(${key} || ':' || ${contactId}), 1, 8))::bit(32)::bigint::float8 / 4294967296.0)`;

/** What one group did, summed per contact. */
export interface GroupTotals {
  contacts: number;
  /** Contacts with at least one conversion. */
  converters: number;
  conversions: number;
  revenue: number;
  /** Sum over contacts of (revenue of the contact)², for the variance of revenue per contact. */
  revenueSquares: number;
}

export interface GroupStats {
  contacts: number;
  converters: number;
  conversionRate: number;
  conversions: number;
  conversionsPerContact: number;
  revenue: number;
  revenuePerContact: number;
}

export interface Difference {
  /** Treated minus control. */
  absolute: number;
  /** absolute / control; null when control is 0. */
  relative: number | null;
  /** 95 % confidence interval of `absolute`; null with fewer than 2 contacts in a group. */
  ci95: [number, number] | null;
}

export interface HoldoutLift {
  treated: GroupStats;
  control: GroupStats;
  lift: { conversionRate: Difference; revenuePerContact: Difference };
  method: string;
}

export const LIFT_METHOD =
  'per contact from entry; 95 % CI by normal approximation: difference of proportions (Wald) for the conversion rate, difference of means with unequal variances (Welch) for revenue per contact';

const Z_95 = 1.959963984540054;

export function holdoutLift(treated: GroupTotals, control: GroupTotals): HoldoutLift {
  const t = groupStats(treated);
  const c = groupStats(control);
  const enough = treated.contacts >= 2 && control.contacts >= 2;
  const rateSe = Math.sqrt(
    proportionVariance(t.conversionRate, treated.contacts) + proportionVariance(c.conversionRate, control.contacts),
  );
  const revenueSe = Math.sqrt(meanVariance(treated) + meanVariance(control));
  return {
    treated: t,
    control: c,
    lift: {
      conversionRate: difference(t.conversionRate, c.conversionRate, enough ? rateSe : null),
      revenuePerContact: difference(t.revenuePerContact, c.revenuePerContact, enough ? revenueSe : null),
    },
    method: LIFT_METHOD,
  };
}

function groupStats(g: GroupTotals): GroupStats {
  const per = (x: number) => (g.contacts > 0 ? x / g.contacts : 0);
  return {
    contacts: g.contacts,
    converters: g.converters,
    conversionRate: round(per(g.converters)),
    conversions: g.conversions,
    conversionsPerContact: round(per(g.conversions)),
    revenue: Math.round(g.revenue * 100) / 100,
    revenuePerContact: round(per(g.revenue)),
  };
}

const proportionVariance = (p: number, n: number) => (n > 0 ? (p * (1 - p)) / n : 0);

/** Variance of the group's mean revenue per contact: sample variance / n. */
function meanVariance(g: GroupTotals): number {
  if (g.contacts < 2) return 0;
  const sampleVariance = Math.max(0, (g.revenueSquares - (g.revenue * g.revenue) / g.contacts) / (g.contacts - 1));
  return sampleVariance / g.contacts;
}

function difference(treated: number, control: number, se: number | null): Difference {
  const absolute = treated - control;
  return {
    absolute: round(absolute),
    relative: control !== 0 ? round(absolute / control) : null,
    ci95: se === null ? null : [round(absolute - Z_95 * se), round(absolute + Z_95 * se)],
  };
}

/** Six decimals: rates and money per contact without float noise. */
const round = (x: number) => Math.round(x * 1e6) / 1e6;
