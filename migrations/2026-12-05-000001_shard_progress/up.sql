-- The rollup's and the readings' progress of one monitor shard (shard `shard` of `shards`):
-- with the services split into shards each shard holder rolls up and reads its own services,
-- so each keeps its own watermark. `rollup_progress` stays what readers read: the progress
-- every service has reached (see src/db/shard_progress.rs).
CREATE TABLE shard_progress (
    shards INTEGER NOT NULL,
    shard INTEGER NOT NULL,
    complete_before TIMESTAMPTZ NOT NULL,
    readings_from TIMESTAMPTZ,
    readings_before TIMESTAMPTZ,
    readings_model BIGINT,
    PRIMARY KEY (shards, shard),
    CHECK (shard >= 0 AND shard < shards)
);
