-- Subscribers, the events they may receive, and one delivery per (event, subscriber) with its attempts.

create table subscribers (
    id                  uuid primary key,
    name                text not null unique,
    url                 text not null,
    secret              text not null,
    filter              jsonb not null,
    retry_max_attempts  integer not null,
    retry_base_delay_ms bigint not null,
    retry_max_delay_ms  bigint not null,
    max_concurrency     integer not null,
    state               text not null default 'active' check (state in ('active', 'paused', 'disabled')),
    state_reason        text,
    managed_by_config   boolean not null default false,
    created_at          timestamptz not null,
    updated_at          timestamptz not null
);

-- One row per myKaarma event, whatever the number of arrivals: (type, id) identifies it.
create table events (
    id                 bigint generated always as identity primary key,
    event_type         text not null,
    event_id           text not null,
    timestamp_ms       bigint not null,
    dealer_uuid        text not null,
    department_uuid    text,
    entity_id          text,
    order_number       text,
    appointment_event  text,
    appointment_status text,
    body               bytea not null,
    traceparent        text,
    received_at        timestamptz not null,
    stored_at          timestamptz not null,
    unique (event_type, event_id)
);

create index events_stored_at on events (stored_at);

create table deliveries (
    id               uuid primary key,
    event_pk         bigint not null references events (id) on delete cascade,
    subscriber_id    uuid not null references subscribers (id) on delete cascade,
    status           text not null check (status in ('pending', 'delivered', 'dead')),
    attempts         integer not null default 0,
    next_attempt_at  timestamptz not null,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz not null,
    delivered_at     timestamptz,
    dead_at          timestamptz,
    unique (event_pk, subscriber_id)
);

-- The dispatcher's hot query: due deliveries of one subscriber, oldest first.
create index deliveries_due on deliveries (subscriber_id, next_attempt_at) where status = 'pending';
create index deliveries_finished on deliveries (status, coalesce(delivered_at, dead_at)) where status <> 'pending';

create table delivery_attempts (
    id               bigint generated always as identity primary key,
    delivery_id      uuid not null references deliveries (id) on delete cascade,
    attempt          integer not null,
    started_at       timestamptz not null,
    duration_ms      double precision not null,
    status_code      integer,
    error            text,
    response_excerpt text
);

create index delivery_attempts_delivery on delivery_attempts (delivery_id, attempt);
