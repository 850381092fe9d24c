-- Consent per contact and channel: the current state only. Its history is the stored
-- "Consent Changed" events (written in the same transaction as each change), so what is here
-- can always be proven from the events table.
CREATE TABLE contact_consent (
  contact_id  text NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  channel     text NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
  status      text NOT NULL CHECK (status IN ('subscribed', 'unsubscribed', 'pending', 'never_asked')),
  source      text NOT NULL,
  ip          text,
  user_agent  text,
  changed_at  timestamptz NOT NULL DEFAULT now(),
  -- Counts the changes: the n-th change's event has a deterministic messageId, so a retried
  -- change stores nothing twice.
  changes     integer NOT NULL DEFAULT 0,
  PRIMARY KEY (contact_id, channel)
);
-- "Who may get SMS": segments and campaign audiences filter on status per channel.
CREATE INDEX contact_consent_status ON contact_consent (channel, status);
