-- Computed attributes of a contact, kept up to date where events are stored (db/contact-stats.ts
-- applyStats, in the transaction that stores them) and rebuilt from the events by backfillStats.
-- No foreign key: stats of a contact merged away are recomputed on the contact it merged into.
CREATE TABLE contact_stats (
  contact_id      text PRIMARY KEY,
  order_count     integer NOT NULL DEFAULT 0,
  total_spent     numeric NOT NULL DEFAULT 0,
  first_order_at  timestamptz,
  last_order_at   timestamptz,
  last_open_at    timestamptz,
  last_click_at   timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Existing databases start with their stats computed from the events already stored (the same
-- rule as db/contact-stats.ts: an order is worth its `total`, else its `revenue`).
SET LOCAL statement_timeout = 0;
INSERT INTO contact_stats (contact_id, order_count, total_spent, first_order_at, last_order_at, last_open_at, last_click_at)
SELECT contact_id,
  count(*) FILTER (WHERE name = 'Order Completed')::int,
  COALESCE(sum(amount) FILTER (WHERE name = 'Order Completed'), 0),
  min(occurred_at) FILTER (WHERE name = 'Order Completed'),
  max(occurred_at) FILTER (WHERE name = 'Order Completed'),
  max(occurred_at) FILTER (WHERE name = 'Email Opened'),
  max(occurred_at) FILTER (WHERE name = 'Email Clicked')
FROM (
  SELECT contact_id, name, occurred_at, COALESCE(
    CASE WHEN jsonb_typeof(properties->'total') = 'number' AND abs((properties->>'total')::numeric) < 1e15 THEN (properties->>'total')::numeric
         WHEN btrim(properties->>'total') ~ '^-?\d{1,15}(\.\d{1,6})?$' THEN btrim(properties->>'total')::numeric END,
    CASE WHEN jsonb_typeof(properties->'revenue') = 'number' AND abs((properties->>'revenue')::numeric) < 1e15 THEN (properties->>'revenue')::numeric
         WHEN btrim(properties->>'revenue') ~ '^-?\d{1,15}(\.\d{1,6})?$' THEN btrim(properties->>'revenue')::numeric END,
    0) AS amount
  FROM events WHERE type = 'track' AND name IN ('Order Completed', 'Email Opened', 'Email Clicked')
) AS e
GROUP BY contact_id;

-- Finding contacts: by address, by trait (jsonb containment), a page after another by id.
CREATE INDEX contacts_email ON contacts (email) WHERE email IS NOT NULL;
CREATE INDEX contacts_phone ON contacts (phone) WHERE phone IS NOT NULL;
CREATE INDEX contacts_traits ON contacts USING gin (traits jsonb_path_ops);

-- One import of contacts (CSV or JSON lines): its progress, and each bad row's reasons.
CREATE TABLE contact_imports (
  id            uuid PRIMARY KEY,
  format        text NOT NULL CHECK (format IN ('csv', 'jsonl')),
  status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
  rows_read     integer NOT NULL DEFAULT 0,
  rows_stored   integer NOT NULL DEFAULT 0,
  -- Rows already imported before (same contact, same data): nothing changed.
  rows_unchanged integer NOT NULL DEFAULT 0,
  rows_failed   integer NOT NULL DEFAULT 0,
  error         text,
  started_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz
);

CREATE TABLE contact_import_errors (
  import_id   uuid NOT NULL REFERENCES contact_imports (id) ON DELETE CASCADE,
  row_number  integer NOT NULL,
  field       text NOT NULL,
  message     text NOT NULL,
  PRIMARY KEY (import_id, row_number, field)
);

-- What an erasure leaves: when, and how much was erased. No personal data (the erased id is
-- kept only as a hash, so "was this id erased?" can be answered without holding the id).
CREATE TABLE contact_erasures (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  id_hash     text NOT NULL,
  erased_at   timestamptz NOT NULL DEFAULT now(),
  counts      jsonb NOT NULL DEFAULT '{}'
);
