-- Contacts are keyed by the caller's userId (Segment) so events need no lookup table.
CREATE TABLE contacts (
  id          text PRIMARY KEY,
  email       text,
  phone       text,
  traits      jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every accepted track/identify call, stored before anything else happens to it.
-- routed_at stays NULL until journeys were started/signalled, so a crash or a Temporal
-- outage between acceptance and routing is retried, never lost.
CREATE TABLE events (
  id               bigserial PRIMARY KEY,
  message_id       text NOT NULL UNIQUE,
  type             text NOT NULL CHECK (type IN ('track', 'identify')),
  contact_id       text NOT NULL REFERENCES contacts (id),
  name             text,
  properties       jsonb NOT NULL DEFAULT '{}',
  context          jsonb NOT NULL DEFAULT '{}',
  occurred_at      timestamptz NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now(),
  routed_at        timestamptz,
  routing_attempts integer NOT NULL DEFAULT 0,
  routing_claimed_at timestamptz,
  routing_error    text,
  routing_result   jsonb
);
CREATE INDEX events_contact_name_time ON events (contact_id, name, occurred_at);
CREATE INDEX events_unrouted ON events (received_at) WHERE routed_at IS NULL;

CREATE TABLE flows (
  id          text PRIMARY KEY,
  version     integer NOT NULL,
  status      text NOT NULL CHECK (status IN ('draft', 'live', 'paused')),
  trigger_event text NOT NULL,
  definition  json NOT NULL, -- json keeps the author's key order
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flows_live_trigger ON flows (trigger_event) WHERE status = 'live';

-- Journeys keep the version they started with: each version is kept whole.
CREATE TABLE flow_versions (
  flow_id     text NOT NULL REFERENCES flows (id),
  version     integer NOT NULL,
  definition  json NOT NULL, -- json keeps the author's key order
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (flow_id, version)
);

-- One row per journey run (one Temporal workflow run).
CREATE TABLE journeys (
  run_id           text PRIMARY KEY,
  workflow_id      text NOT NULL,
  flow_id          text NOT NULL,
  flow_version     integer NOT NULL,
  contact_id       text NOT NULL,
  trigger_event_id bigint,
  listens_to       text[] NOT NULL DEFAULT '{}',
  status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'exited', 'failed')),
  exit_reason      text,
  exit_detail      jsonb,
  current_step     text,
  started_at       timestamptz NOT NULL DEFAULT now(),
  ended_at         timestamptz
);
CREATE INDEX journeys_contact ON journeys (contact_id, started_at DESC);
CREATE INDEX journeys_running_by_contact ON journeys (contact_id) WHERE status = 'running';

-- One row per send attempt of a journey step: the unique key makes a retried activity
-- find the message it already sent instead of sending it again.
CREATE TABLE messages (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  journey_run_id      text NOT NULL,
  flow_id             text NOT NULL,
  flow_version        integer NOT NULL,
  step_id             text NOT NULL,
  contact_id          text NOT NULL,
  channel             text NOT NULL CHECK (channel IN ('email', 'sms')),
  transactional       boolean NOT NULL DEFAULT false,
  recipient           text,
  provider            text,
  provider_message_id text,
  status              text NOT NULL CHECK (status IN ('sending', 'sent', 'retrying', 'failed', 'skipped')),
  reason              text,
  content             jsonb,
  attempts            integer NOT NULL DEFAULT 0,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  sent_at             timestamptz,
  UNIQUE (journey_run_id, step_id)
);
CREATE INDEX messages_contact ON messages (contact_id, created_at DESC);
CREATE INDEX messages_outbox ON messages (created_at DESC) WHERE provider = 'outbox';

-- Addresses nothing may be sent to (unsubscribes, complaints, hard bounces).
CREATE TABLE suppressions (
  channel     text NOT NULL CHECK (channel IN ('email', 'sms')),
  address     text NOT NULL,
  reason      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channel, address)
);
