-- Campaign sends (issue 10 bench): each message row is updated twice after its claim (handed to
-- the provider, then its outcome). The handed mark and lease renewals change no indexed column,
-- so with room left on the row's page Postgres updates it in place (a HOT update: no write to
-- the table's 9 indexes). Applies to pages written from now on; old pages stay full.
ALTER TABLE messages SET (fillfactor = 70);
