-- Campaigns (issue 10): one message to lists and segments, sent by one Temporal workflow per run.
CREATE TABLE campaigns (
  id          text PRIMARY KEY,
  definition  jsonb NOT NULL,
  status      text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'completed', 'cancelled')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per run (a one-off campaign has one; a recurring one, one per occurrence). The
-- definition is copied at freeze: later edits never change a run already sending.
CREATE TABLE campaign_runs (
  run_id       text PRIMARY KEY,
  campaign_id  text NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  definition   jsonb NOT NULL,
  status       text NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'paused', 'completed', 'cancelled')),
  recipients   integer NOT NULL DEFAULT 0,
  -- A/B tests: the variant chosen for the rest.
  winner       text,
  frozen_at    timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);
CREATE INDEX campaign_runs_campaign ON campaign_runs (campaign_id, frozen_at);

-- The audience frozen when sending starts (one INSERT ... SELECT). `due_at`: when the contact
-- may be sent to (local-time sends, quiet hours push it later); `done`: its message is settled.
CREATE TABLE campaign_recipients (
  run_id      text NOT NULL REFERENCES campaign_runs (run_id) ON DELETE CASCADE,
  contact_id  text NOT NULL,
  ord         integer NOT NULL,
  zone        text NOT NULL,
  due_at      timestamptz NOT NULL,
  -- A/B tests: the variant; NULL for the rest until the winner is chosen.
  variant     text,
  done        boolean NOT NULL DEFAULT false,
  PRIMARY KEY (run_id, contact_id)
);
-- Pages: windows of `ord`; what is left and when it is due.
CREATE UNIQUE INDEX campaign_recipients_order ON campaign_recipients (run_id, ord);
CREATE INDEX campaign_recipients_pending ON campaign_recipients (run_id, due_at) WHERE NOT done;

-- Campaign messages live with journey messages (smart sending, the cap and last-touch
-- conversions read one table). Their send_key is "campaign:<run>|<contact>": one message per
-- recipient and run, whatever retries and crashes happen.
ALTER TABLE messages ADD COLUMN campaign_id text;
ALTER TABLE messages ADD COLUMN campaign_run_id text;
ALTER TABLE messages ADD COLUMN variant text;
CREATE INDEX messages_campaign ON messages (campaign_id, campaign_run_id) WHERE campaign_id IS NOT NULL;
