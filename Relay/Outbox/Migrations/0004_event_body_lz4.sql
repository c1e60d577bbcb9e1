-- Event bodies are 1 to 10 KB of JSON, and those over about 2 KB are compressed as they are stored. lz4 compresses
-- and decompresses them for a fraction of the CPU of PostgreSQL's default (pglz), and every event is written once
-- and read for each of its deliveries. Servers built without lz4 keep the default. Rows stored before keep theirs.
do $$
begin
    if exists (select 1 from pg_settings where name = 'default_toast_compression' and 'lz4' = any (enumvals)) then
        alter table events alter column body set compression lz4;
    end if;
end
$$;
