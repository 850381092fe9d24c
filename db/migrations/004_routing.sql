-- One routing path (routing/router.ts): every stored event is routed by routeStored, inline
-- from the request or by the router loop, which claims events with a lease.
-- next_route_at: not claimable before then (the inline attempt's lease, or a retry's backoff).
ALTER TABLE events ADD COLUMN next_route_at timestamptz;
DROP INDEX events_unrouted;
CREATE INDEX events_routable ON events (next_route_at NULLS FIRST, id) WHERE routed_at IS NULL;

-- Entry is keyed on the trigger event: one decision per (flow, trigger event), claimed before
-- the workflow start and completed after it, so routing an event again (a lost "routed" mark)
-- never starts a second journey for it, even when the first one already ended.
CREATE TABLE journey_entries (
  flow_id          text NOT NULL,
  trigger_event_id bigint NOT NULL,
  contact_id       text NOT NULL,
  workflow_id      text NOT NULL,
  outcome          text CHECK (outcome IN ('started', 'already_in_flow', 'refused')),
  run_id           text,
  reason           text,
  claimed_at       timestamptz NOT NULL DEFAULT now(),
  decided_at       timestamptz,
  PRIMARY KEY (flow_id, trigger_event_id)
);
-- A failed routing pass releases its event's undecided claims.
CREATE INDEX journey_entries_undecided ON journey_entries (trigger_event_id) WHERE outcome IS NULL;

-- A journey's row exists before its workflow starts (status 'starting', no run id yet), so
-- whatever routes the contact's next event finds it. Rows get a surrogate key for that.
ALTER TABLE journeys DROP CONSTRAINT journeys_pkey;
ALTER TABLE journeys ADD COLUMN id bigserial PRIMARY KEY;
ALTER TABLE journeys ALTER COLUMN run_id DROP NOT NULL;
CREATE UNIQUE INDEX journeys_run_id ON journeys (run_id);
ALTER TABLE journeys DROP CONSTRAINT journeys_status_check;
ALTER TABLE journeys ADD CONSTRAINT journeys_status_check
  CHECK (status IN ('starting', 'running', 'completed', 'exited', 'failed', 'terminated', 'timed_out', 'canceled'));
-- Per event name, the property paths the journey's conditions read: signals carry only those.
ALTER TABLE journeys ADD COLUMN listens jsonb;
-- Reconciliation: when Temporal was last asked whether this running journey still runs.
ALTER TABLE journeys ADD COLUMN checked_at timestamptz;

-- Hot queries: signals and start recovery by workflow id, reconciliation by age of the check.
CREATE INDEX journeys_live_by_workflow ON journeys (workflow_id) WHERE status IN ('starting', 'running');
CREATE INDEX journeys_unchecked ON journeys (checked_at NULLS FIRST) WHERE status IN ('starting', 'running');
CREATE INDEX journeys_trigger ON journeys (flow_id, trigger_event_id);
DROP INDEX journeys_running_by_contact;
CREATE INDEX journeys_live_by_contact ON journeys (contact_id) WHERE status IN ('starting', 'running');
