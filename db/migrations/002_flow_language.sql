-- Profile-change triggers have no event; archived is a status.
ALTER TABLE flows ALTER COLUMN trigger_event DROP NOT NULL;
ALTER TABLE flows ADD COLUMN profile_trigger boolean NOT NULL DEFAULT false;
ALTER TABLE flows DROP CONSTRAINT flows_status_check;
ALTER TABLE flows ADD CONSTRAINT flows_status_check CHECK (status IN ('draft', 'live', 'paused', 'archived'));
CREATE INDEX flows_live_profile ON flows (id) WHERE status = 'live' AND profile_trigger;

-- Keyed journeys (one per cart), the path a journey took (random-split branches, for
-- analytics), and re-entry checks by flow and contact.
ALTER TABLE journeys ADD COLUMN journey_key text;
ALTER TABLE journeys ADD COLUMN steps jsonb;
ALTER TABLE journeys DROP CONSTRAINT journeys_status_check;
ALTER TABLE journeys ADD CONSTRAINT journeys_status_check CHECK (status IN ('running', 'completed', 'exited', 'failed'));
CREATE INDEX journeys_flow_contact ON journeys (flow_id, contact_id, started_at DESC);
CREATE INDEX journeys_running_by_flow ON journeys (flow_id) WHERE status = 'running';

ALTER TABLE messages DROP CONSTRAINT messages_channel_check;
ALTER TABLE messages ADD CONSTRAINT messages_channel_check CHECK (channel IN ('email', 'sms', 'push', 'webhook'));
CREATE INDEX messages_contact_channel_sent ON messages (contact_id, channel, sent_at DESC) WHERE status = 'sent';

ALTER TABLE suppressions DROP CONSTRAINT suppressions_channel_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_channel_check CHECK (channel IN ('email', 'sms', 'push'));

-- Web push subscriptions (PushSubscription JSON from the browser), one per endpoint.
CREATE TABLE push_subscriptions (
  endpoint    text PRIMARY KEY,
  contact_id  text NOT NULL REFERENCES contacts (id),
  keys        jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_subscriptions_contact ON push_subscriptions (contact_id);
