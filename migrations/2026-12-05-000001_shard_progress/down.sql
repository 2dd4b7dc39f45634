DROP TABLE shard_progress;
