-- What providers (and our own tracking) tell us about each message, once per provider event.
CREATE TABLE message_events (
  id                 bigserial PRIMARY KEY,
  message_id         uuid NOT NULL REFERENCES messages (id),
  source             text NOT NULL,              -- sendgrid | twilio | tracking | unsubscribe
  source_event_id    text NOT NULL,              -- sg_event_id, MessageSid:status, token hash…
  type               text NOT NULL,              -- processed, delivered, deferred, bounce, dropped, open, click, spamreport, unsubscribe, …
  occurred_at        timestamptz NOT NULL,
  data               jsonb NOT NULL DEFAULT '{}',
  received_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source, source_event_id)
);
CREATE INDEX message_events_message ON message_events (message_id, occurred_at);
CREATE INDEX message_events_type ON message_events (type, message_id);

-- Delivery facts kept on the message for quick reads and stats (first time each happened).
ALTER TABLE messages ADD COLUMN delivery_status text;
ALTER TABLE messages ADD COLUMN delivered_at timestamptz;
ALTER TABLE messages ADD COLUMN opened_at timestamptz;
ALTER TABLE messages ADD COLUMN clicked_at timestamptz;
ALTER TABLE messages ADD COLUMN bounced_at timestamptz;
ALTER TABLE messages ADD COLUMN unsubscribed_at timestamptz;
CREATE INDEX messages_flow ON messages (flow_id, flow_version, step_id);
CREATE INDEX messages_provider_id ON messages (provider, provider_message_id);
-- Last-touch attribution: a contact's last message before a conversion.
CREATE INDEX messages_contact_sent ON messages (contact_id, sent_at DESC) WHERE status = 'sent';

-- Unsubscribes and complaints withdraw marketing consent; hard bounces stop everything.
ALTER TABLE suppressions ADD COLUMN scope text NOT NULL DEFAULT 'all' CHECK (scope IN ('marketing', 'all'));
