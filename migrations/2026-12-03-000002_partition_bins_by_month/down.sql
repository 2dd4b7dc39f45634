-- Back to one table each, rows kept.
CREATE TABLE report_bins_unpartitioned (
    service_id uuid NOT NULL REFERENCES services (id),
    bin_start timestamptz NOT NULL CHECK (extract(epoch FROM bin_start)::bigint % 900 = 0),
    total integer NOT NULL CHECK (total >= 0),
    CONSTRAINT report_bins_unpartitioned_pkey PRIMARY KEY (service_id, bin_start)
);
CREATE TABLE report_bin_breakdowns_unpartitioned (
    service_id uuid NOT NULL,
    bin_start timestamptz NOT NULL,
    dimension text NOT NULL CHECK (dimension IN ('problem', 'country')),
    key text NOT NULL,
    count integer NOT NULL CHECK (count >= 0),
    CONSTRAINT report_bin_breakdowns_unpartitioned_pkey
        PRIMARY KEY (service_id, bin_start, dimension, key),
    FOREIGN KEY (service_id, bin_start)
        REFERENCES report_bins_unpartitioned (service_id, bin_start) ON DELETE CASCADE
);
INSERT INTO report_bins_unpartitioned SELECT service_id, bin_start, total FROM report_bins;
INSERT INTO report_bin_breakdowns_unpartitioned
    SELECT service_id, bin_start, dimension, key, count FROM report_bin_breakdowns;
DROP TABLE report_bin_breakdowns;
DROP TABLE report_bins;
DROP FUNCTION downwatch_ensure_bin_partitions(date, date);
DROP FUNCTION downwatch_drop_bin_partitions_before(date);
ALTER TABLE report_bins_unpartitioned RENAME TO report_bins;
ALTER TABLE report_bins RENAME CONSTRAINT report_bins_unpartitioned_pkey TO report_bins_pkey;
ALTER TABLE report_bin_breakdowns_unpartitioned RENAME TO report_bin_breakdowns;
ALTER TABLE report_bin_breakdowns
    RENAME CONSTRAINT report_bin_breakdowns_unpartitioned_pkey TO report_bin_breakdowns_pkey;
