-- The detection model's readings of closed bins, stored with them so that a curve over stored
-- history is a read, not a refit (src/detect/readings.rs says how a reading is defined). The
-- monitor writes them as bins close and fills in older history; a bin whose readings are
-- missing is read by running the model, as before. Added on the partitioned parent, so every
-- month (and the default partition) gets them; nullable, so adding them rewrites nothing.
--
-- baseline, upper, level: the reading of the 15-minute step starting at bin_start.
-- hour_baseline, hour_upper, hour_level: on the last bin of an hour (:45), the reading of that
-- hour, which closes with it. A bin row with no report exists only to hold readings.
ALTER TABLE report_bins
    ADD COLUMN baseline double precision,
    ADD COLUMN upper double precision,
    ADD COLUMN level text CHECK (level IN ('normal', 'elevated', 'outage')),
    ADD COLUMN hour_baseline double precision,
    ADD COLUMN hour_upper double precision,
    ADD COLUMN hour_level text CHECK (hour_level IN ('normal', 'elevated', 'outage')),
    ADD CONSTRAINT report_bins_reading_whole
        CHECK ((baseline IS NULL) = (level IS NULL) AND (upper IS NULL) = (level IS NULL)),
    ADD CONSTRAINT report_bins_hour_reading_whole
        CHECK ((hour_baseline IS NULL) = (hour_level IS NULL)
               AND (hour_upper IS NULL) = (hour_level IS NULL)
               AND (hour_level IS NULL OR extract(epoch FROM bin_start)::bigint % 3600 = 2700));

-- Which bins hold readings: every service's bins in [readings_from, readings_before) have
-- them (a missing row reads as a service with no report since its anchor), computed by the
-- model whose parameters hash to readings_model. readings_generation grows whenever
-- readings_before moves back (a clock set back re-rolled bins already read), so readers
-- drop what they derived from the older readings.
ALTER TABLE rollup_progress
    ADD COLUMN readings_from timestamptz,
    ADD COLUMN readings_before timestamptz,
    ADD COLUMN readings_model bigint,
    ADD COLUMN readings_generation bigint NOT NULL DEFAULT 0;
