/**
 * The lists part of the preference page: the lists the contact is on, each with a checkbox.
 * Unticking one leaves it (a stored `List Left` event with source `preference_page`, routed by
 * the router loop). Lists the person is not on are not offered: some lists are internal (VIP,
 * testers) and joining is the shop's to offer.
 */
import { escapeHtml } from './pages';
import { inTransaction, type Db } from '../../db/pool';
import { applyListChanges, listMembershipsOf } from '../../db/lists';
import type { PreferenceListsHook } from './router';

const field = (listId: string) => `list_${listId}`;

export function listPreferences(db: Db): PreferenceListsHook {
  return {
    async section(q, contactId, p) {
      const lists = await listMembershipsOf(q, contactId);
      if (lists.length === 0) return '';
      const rows = lists
        .map(
          ({ listId, listName }) =>
            `<p><label><input type="checkbox" name="${escapeHtml(field(listId))}" value="on" checked> ${escapeHtml(listName)}</label>` +
            `<input type="hidden" name="shown_${escapeHtml(field(listId))}" value="1"></p>`,
        )
        .join('');
      return `<h2>${escapeHtml(p.t('preferences.lists'))}</h2>${rows}`;
    },
    async apply(_q, contactId, form) {
      // Only lists the page showed ticked and the person unticked; a forged field names no other list.
      const shown = Object.keys(form)
        .filter((k) => k.startsWith('shown_list_') && form[k] === '1')
        .map((k) => k.slice('shown_list_'.length));
      const leave = shown.filter((listId) => form[field(listId)] !== 'on');
      if (leave.length === 0) return;
      await inTransaction(db, (tx) => applyListChanges(tx, contactId, { join: [], leave }, 'preference_page'));
    },
  };
}
