-- 15-minute rollups of the Redis minute buckets: the long history. Rollups only ever raise a
-- count (GREATEST), so re-runs, a second instance or an emptied Redis never lower or double it.
CREATE TABLE report_bins (
    service_id uuid NOT NULL REFERENCES services (id),
    bin_start timestamptz NOT NULL CHECK (extract(epoch FROM bin_start)::bigint % 900 = 0),
    total integer NOT NULL CHECK (total >= 0),
    PRIMARY KEY (service_id, bin_start)
);

-- Per problem kind and per country counts of a bin.
CREATE TABLE report_bin_breakdowns (
    service_id uuid NOT NULL,
    bin_start timestamptz NOT NULL,
    dimension text NOT NULL CHECK (dimension IN ('problem', 'country')),
    key text NOT NULL,
    count integer NOT NULL CHECK (count >= 0),
    PRIMARY KEY (service_id, bin_start, dimension, key),
    FOREIGN KEY (service_id, bin_start) REFERENCES report_bins (service_id, bin_start) ON DELETE CASCADE
);

-- Stretches of time a service spent above normal.
CREATE TABLE incidents (
    id uuid PRIMARY KEY,
    service_id uuid NOT NULL REFERENCES services (id),
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    level text NOT NULL CHECK (level IN ('normal', 'elevated', 'outage')),
    highest_level text NOT NULL CHECK (highest_level IN ('elevated', 'outage')),
    peak_at timestamptz NOT NULL,
    peak_minute_count integer NOT NULL,
    peak_bin_at timestamptz NOT NULL,
    peak_bin_count integer NOT NULL,
    baseline_at_peak double precision NOT NULL,
    total_reports bigint NOT NULL,
    problem_counts jsonb NOT NULL DEFAULT '{}',
    country_counts jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);

-- One open incident per service, whatever restarts or races happen.
CREATE UNIQUE INDEX incidents_one_open_per_service ON incidents (service_id) WHERE ended_at IS NULL;
CREATE INDEX incidents_service_started_idx ON incidents (service_id, started_at DESC);
CREATE INDEX incidents_started_idx ON incidents (started_at DESC);

-- The timeline: every level change of an incident.
CREATE TABLE incident_updates (
    id bigserial PRIMARY KEY,
    incident_id uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at timestamptz NOT NULL,
    kind text NOT NULL CHECK (kind IN ('opened', 'escalated', 'deescalated', 'resolved')),
    level text NOT NULL CHECK (level IN ('normal', 'elevated', 'outage')),
    reports integer NOT NULL,
    baseline double precision NOT NULL,
    UNIQUE (incident_id, at, kind)
);

-- How far the rollup has got: every bin before this one is complete in PostgreSQL.
CREATE TABLE rollup_progress (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    complete_before timestamptz NOT NULL
);
