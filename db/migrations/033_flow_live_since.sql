-- When each flow last became live (null while it is not): an event that happened before it
-- starts no journey (flows/entry-time.ts), so a shop importing its past orders after creating
-- its post-purchase flow sends no thank-you for them. Flows live before this migration count as
-- live since their creation (the most lenient reading of their past).
ALTER TABLE flows ADD COLUMN live_since timestamptz;
UPDATE flows SET live_since = created_at WHERE status = 'live';
