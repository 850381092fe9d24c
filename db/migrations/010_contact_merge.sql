-- Anonymous → known: an id merged into another contact (alias, or identify with both ids)
-- resolves to that contact from then on. A row per merged id, even one that never had a
-- contact row (the alias can arrive before the anonymous visitor's first event).
CREATE TABLE contact_aliases (
  alias_id    text PRIMARY KEY,
  contact_id  text NOT NULL,
  merged_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_aliases_contact ON contact_aliases (contact_id);

-- The merged-away contact keeps an empty row marked with where it went, rather than being
-- deleted: a transaction that waited on its lock (a concurrent ingestion) then finds the mark
-- and follows it, instead of re-creating a stray contact under the old id.
ALTER TABLE contacts ADD COLUMN merged_into text;
