-- Campaigns, exactly once across a crash: a page's messages are claimed ("sending", under a
-- lease), then marked here in one statement immediately before the provider call. A dead claim
-- with no mark never reached the provider and is claimed again and sent; a marked one may have
-- reached it and is recorded "unknown", never sent again.
ALTER TABLE messages ADD COLUMN provider_called_at timestamptz;
