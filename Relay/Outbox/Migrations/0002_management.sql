-- What the management API, the protections and the per-subscriber stream options need.

-- Secret rotation: during the overlap both the new secret and the previous one sign each request.
alter table subscribers add column previous_secret text;
alter table subscribers add column previous_secret_expires_at timestamptz;
-- The secret came from configuration, so a rotation through the API would be undone at the next start.
alter table subscribers add column secret_from_config boolean not null default false;

-- Requests per second per Relay replica; null means no limit.
alter table subscribers add column rate_limit_per_second double precision;

-- Stream options: per-entity ordering, skipping stale events, coalescing bursts.
alter table subscribers add column ordering text not null default 'none' check (ordering in ('none', 'per_entity'));
alter table subscribers add column drop_stale boolean not null default false;
alter table subscribers add column coalesce_window_ms bigint not null default 0 check (coalesce_window_ms >= 0);

-- Auto-disable: when the subscriber last took a delivery, and since when it has failed without one.
alter table subscribers add column last_success_at timestamptz;
alter table subscribers add column failing_since timestamptz;

-- Deliveries may also end without a request: skipped as stale, or superseded by a later event within the window.
alter table deliveries drop constraint deliveries_status_check;
alter table deliveries add constraint deliveries_status_check
    check (status in ('pending', 'delivered', 'dead', 'skipped', 'superseded'));
alter table deliveries add column skipped_at timestamptz;

-- The entity the event is about ("type:entity id"), and its myKaarma timestamp, copied onto the delivery so the
-- stream options find an entity's other deliveries through an index. Set only for subscribers that use an option.
alter table deliveries add column entity_key text;
alter table deliveries add column event_timestamp_ms bigint;

-- A replay starts a new round of attempts: retry limits count from here, while attempt numbers keep growing so
-- an outcome of an earlier round can never be mistaken for one of this round.
alter table deliveries add column attempt_base integer not null default 0;

create index deliveries_entity_pending on deliveries (subscriber_id, entity_key, event_timestamp_ms, event_pk)
    where status = 'pending' and entity_key is not null;
create index deliveries_entity_delivered on deliveries (subscriber_id, entity_key, event_timestamp_ms)
    where status = 'delivered' and entity_key is not null;

-- The delivery log is queried by subscriber and time (by event through the unique (event_pk, subscriber_id) index).
create index deliveries_subscriber_created on deliveries (subscriber_id, created_at desc, id desc);
create index events_received_at on events (received_at);

-- Stats read the last hour of attempts.
create index delivery_attempts_started_at on delivery_attempts (started_at);

-- Idempotency keys of replay and backfill requests, with the answer given, so a retried request answers the same.
create table api_requests (
    idempotency_key text primary key,
    operation       text not null,
    fingerprint     text not null,
    status_code     integer not null,
    response        jsonb not null,
    created_at      timestamptz not null
);

create index api_requests_created_at on api_requests (created_at);
