-- What a message is: from a flow step, a campaign, a double opt-in confirmation or a webhook
-- step, and the priority it was sent with (the frequency cap and smart sending count only
-- messages of the asking message's priority or higher; read here instead of joining the flow
-- version of every message, and set for campaigns without pretending to be a flow).
ALTER TABLE messages ADD COLUMN source text NOT NULL DEFAULT 'flow'
  CHECK (source IN ('flow', 'campaign', 'confirmation', 'webhook'));
ALTER TABLE messages ADD COLUMN priority integer NOT NULL DEFAULT 50;

UPDATE messages m SET
  source = CASE WHEN m.campaign_id IS NOT NULL THEN 'campaign'
                WHEN m.flow_id = 'double-opt-in' THEN 'confirmation'
                WHEN m.channel = 'webhook' THEN 'webhook'
                ELSE 'flow' END,
  priority = CASE WHEN m.campaign_id IS NOT NULL THEN 0
                  ELSE COALESCE((SELECT (fv.definition ->> 'priority')::int FROM flow_versions fv
                                  WHERE fv.flow_id = m.flow_id AND fv.version = m.flow_version), 50) END;

-- Campaign messages were journey rows in disguise (flow_id 'campaign:<id>', version 0): they
-- now name their campaign only (campaign_id), and belong to no flow.
ALTER TABLE messages ALTER COLUMN flow_id DROP NOT NULL;
ALTER TABLE messages ALTER COLUMN flow_version DROP NOT NULL;
UPDATE messages SET flow_id = NULL, flow_version = NULL WHERE source = 'campaign';
UPDATE messages SET flow_id = NULL, flow_version = NULL WHERE source = 'confirmation';

-- Journey claims now have the campaigns' second phase (handed to the provider). A journey claim
-- left "sending" by a worker before this version may have reached the provider: taken as handed.
UPDATE messages SET provider_called_at = updated_at
 WHERE status = 'sending' AND provider_called_at IS NULL AND source <> 'campaign';
