-- Secrets every instance must share, generated once (e.g. the reporter-key HMAC secret when
-- DOWNWATCH_REPORTER_SECRET is not set).
CREATE TABLE app_secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
