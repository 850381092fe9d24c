-- Routing with a failure budget (routing/router.ts): failures that are not an outage count
-- against the event; an exhausted event, or a part of it Temporal refused for good, goes to a
-- dead letter, so it blocks only the flow that failed and never the contact's later events.
ALTER TABLE events ADD COLUMN routing_failures integer NOT NULL DEFAULT 0;

-- A start Temporal refused (its message in reason) is decided, so routing the event again
-- does not try it again; retrying its dead letter reopens it.
ALTER TABLE journey_entries DROP CONSTRAINT journey_entries_outcome_check;
ALTER TABLE journey_entries ADD CONSTRAINT journey_entries_outcome_check
  CHECK (outcome IN ('started', 'already_in_flow', 'refused', 'failed'));

CREATE TABLE routing_dead_letters (
  id          bigserial PRIMARY KEY,
  event_id    bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  contact_id  text NOT NULL,
  -- start: entering flow_id; signal: telling journey workflow_id; event: the event as a whole.
  kind        text NOT NULL CHECK (kind IN ('start', 'signal', 'event')),
  flow_id     text,
  workflow_id text,
  error       text NOT NULL,
  attempts    integer NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  retried_at  timestamptz,
  retries     integer NOT NULL DEFAULT 0,
  resolved_at timestamptz
);
-- Routing an event again never letters the same part twice while it is open.
CREATE UNIQUE INDEX routing_dead_letters_open
  ON routing_dead_letters (event_id, kind, coalesce(flow_id, ''), coalesce(workflow_id, ''))
  WHERE resolved_at IS NULL;
CREATE INDEX routing_dead_letters_by_time ON routing_dead_letters (created_at DESC, id DESC);
