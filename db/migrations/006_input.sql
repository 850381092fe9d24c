-- Creating an index on a large journeys table may take longer than the pool's statement timeout.
SET LOCAL statement_timeout = 0;

-- A flow's status change reaches its running journeys in the background: the change and its
-- notice are written in one transaction, a job pages through the running journeys after the
-- API has answered, and `after_run_id` lets a job resume where a crashed one stopped.
CREATE TABLE flow_status_notices (
  id            bigserial PRIMARY KEY,
  flow_id       text NOT NULL REFERENCES flows (id),
  status        text NOT NULL CHECK (status IN ('live', 'paused', 'archived')),
  after_run_id  text NOT NULL DEFAULT '',
  signalled     integer NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now(),
  -- done (all signalled) or superseded by a later change of the same flow
  finished_at   timestamptz,
  outcome       text CHECK (outcome IN ('done', 'superseded')),
  last_error    text
);
CREATE INDEX flow_status_notices_pending ON flow_status_notices (flow_id, id) WHERE finished_at IS NULL;

-- Paging a flow's running journeys in run_id order.
CREATE INDEX journeys_running_by_flow_run ON journeys (flow_id, run_id) WHERE status = 'running';
