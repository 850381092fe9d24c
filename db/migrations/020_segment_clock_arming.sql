-- Segment clocks armed off the routing path (issue 9, incremental upkeep): the upkeep stores
-- the moment a contact's clock must wake (due_at) with arm_pending, in the same statement that
-- records the entries and exits; the clock arming pass (routing/segment-clock-arming.ts) signals
-- Temporal and clears the flag. A crash in between leaves the flag set: the next pass arms it.
ALTER TABLE segment_clocks ADD COLUMN arm_pending boolean NOT NULL DEFAULT false;
CREATE INDEX segment_clocks_arm_pending ON segment_clocks (due_at) WHERE arm_pending;
