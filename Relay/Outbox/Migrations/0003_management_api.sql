-- The management API's queries that the earlier indexes do not serve.

-- The delivery log across all subscribers, newest first, paged by (created_at, id).
create index deliveries_created on deliveries (created_at desc, id desc);

-- The delivery log by myKaarma event id (the unique (event_type, event_id) index needs the type first).
create index events_event_id on events (event_id);

-- Replaying a subscriber's dead letters since a time.
create index deliveries_dead on deliveries (subscriber_id, dead_at) where status = 'dead';
