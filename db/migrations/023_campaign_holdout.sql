-- Campaign holdouts: a sticky share of a run's frozen audience (md5 of "campaign:<id>:<contact>",
-- audiences/holdout.ts) is recorded as control and receives nothing (`done` at freeze); stats
-- compare what the treated and control recipients did after the run started.
ALTER TABLE campaign_recipients ADD COLUMN control boolean NOT NULL DEFAULT false;
