-- Alerts: subscriptions to incident changes, delivered by webhook with retries.
--
-- The outbox is the timeline itself: every incident change already writes an `incident_updates`
-- row in the same transaction as the incident, so an update not yet `fanned_out` is an event
-- not yet turned into deliveries; nothing can be lost between the monitor and the sender.
-- Updates recorded before alerts existed are not news any more.
ALTER TABLE incident_updates ADD COLUMN fanned_out boolean NOT NULL DEFAULT true;
ALTER TABLE incident_updates ALTER COLUMN fanned_out SET DEFAULT false;
CREATE INDEX incident_updates_to_fan_out ON incident_updates (id) WHERE NOT fanned_out;

CREATE TABLE subscriptions (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    url text NOT NULL,
    format text NOT NULL CHECK (format IN ('json', 'slack', 'discord', 'alertmanager')),
    min_level text NOT NULL CHECK (min_level IN ('elevated', 'outage')),
    kinds text[] NOT NULL,
    services text[] NOT NULL DEFAULT '{}',
    providers text[] NOT NULL DEFAULT '{}',
    categories text[] NOT NULL DEFAULT '{}',
    enabled boolean NOT NULL DEFAULT true,
    secret text NOT NULL,
    -- Set when repeated permanent failures paused it; cleared when it is enabled again.
    paused_reason text,
    permanent_failures integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE deliveries (
    id bigserial PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    -- The timeline entry it announces; NULL for a test event.
    update_id bigint REFERENCES incident_updates (id) ON DELETE CASCADE,
    -- The idempotency key receivers see as `webhook-id`: the same on every attempt.
    webhook_id uuid NOT NULL UNIQUE,
    event text NOT NULL,
    -- Rendered once, so every attempt sends (and signs) the same bytes.
    body text NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- An instance sending it holds it until then; nobody else sends it meanwhile.
    claimed_until timestamptz,
    created_at timestamptz NOT NULL,
    finished_at timestamptz,
    UNIQUE (subscription_id, update_id)
);
-- The sender takes the oldest pending delivery of each subscription: one at a time, in order.
CREATE INDEX deliveries_pending ON deliveries (subscription_id, id) WHERE state = 'pending';

CREATE TABLE delivery_attempts (
    id bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at timestamptz NOT NULL,
    status integer,
    error text,
    latency_ms integer NOT NULL,
    -- A short prefix of the receiver's answer, never more.
    response text
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, id);
