-- Sends that never repeat.
-- "unknown": the provider may or may not have accepted the message (a crash or a timeout between
-- its answer and our record); marketing messages in that state are never sent again automatically.
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (status IN ('sending', 'sent', 'retrying', 'failed', 'skipped', 'unknown'));

-- The claim: the attempt holding the lease is the only one allowed to call the provider until
-- lease_until. A row left 'sending' after its lease ran out is an attempt that died mid-call.
ALTER TABLE messages ADD COLUMN lease_until timestamptz;
ALTER TABLE messages ADD COLUMN lease_owner text;

-- What survives a journey reset (a new run id): workflow id, trigger event id and step id.
-- NULL on rows written before this migration; they are found by (journey_run_id, step_id) and
-- given their key when a step touches them again.
ALTER TABLE messages ADD COLUMN send_key text;
CREATE UNIQUE INDEX messages_send_key ON messages (send_key);
