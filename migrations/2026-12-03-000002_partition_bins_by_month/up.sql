-- History that grows for years: bins and their breakdowns partitioned by month, so old months
-- drop as whole tables (`downwatch_drop_bin_partitions_before`) instead of row by row, and
-- queries over recent ranges touch only their months. The monitor creates partitions ahead
-- (`downwatch_ensure_bin_partitions`); a default partition catches anything else (history
-- imported for a month long past, a clock far ahead), so a write never fails for want of one.
ALTER TABLE report_bin_breakdowns RENAME TO report_bin_breakdowns_unpartitioned;
ALTER TABLE report_bin_breakdowns_unpartitioned
    RENAME CONSTRAINT report_bin_breakdowns_pkey TO report_bin_breakdowns_unpartitioned_pkey;
ALTER TABLE report_bins RENAME TO report_bins_unpartitioned;
ALTER TABLE report_bins_unpartitioned
    RENAME CONSTRAINT report_bins_pkey TO report_bins_unpartitioned_pkey;

CREATE TABLE report_bins (
    service_id uuid NOT NULL REFERENCES services (id),
    bin_start timestamptz NOT NULL CHECK (extract(epoch FROM bin_start)::bigint % 900 = 0),
    total integer NOT NULL CHECK (total >= 0),
    PRIMARY KEY (service_id, bin_start)
) PARTITION BY RANGE (bin_start);
CREATE TABLE report_bins_default PARTITION OF report_bins DEFAULT;

CREATE TABLE report_bin_breakdowns (
    service_id uuid NOT NULL,
    bin_start timestamptz NOT NULL,
    dimension text NOT NULL CHECK (dimension IN ('problem', 'country')),
    key text NOT NULL,
    count integer NOT NULL CHECK (count >= 0),
    PRIMARY KEY (service_id, bin_start, dimension, key),
    FOREIGN KEY (service_id, bin_start) REFERENCES report_bins (service_id, bin_start) ON DELETE CASCADE
) PARTITION BY RANGE (bin_start);
CREATE TABLE report_bin_breakdowns_default PARTITION OF report_bin_breakdowns DEFAULT;

-- Creates the monthly partitions of both tables from the month of `first` to the month of
-- `last`, where missing. Months are UTC months, whatever the session's time zone. A month whose rows already sit in a default partition stays there
-- (moving them would lock both tables); it is skipped. Returns how many months were created.
CREATE FUNCTION downwatch_ensure_bin_partitions(first date, last date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', first)::date;
    next date;
    lo timestamptz;
    hi timestamptz;
    suffix text;
    created integer := 0;
BEGIN
    WHILE month <= last LOOP
        next := (month + interval '1 month')::date;
        lo := month::timestamp AT TIME ZONE 'UTC';
        hi := next::timestamp AT TIME ZONE 'UTC';
        suffix := to_char(month, '"y"YYYY"m"MM');
        IF to_regclass('report_bins_' || suffix) IS NULL
           AND NOT EXISTS (SELECT 1 FROM report_bins_default
                           WHERE bin_start >= lo AND bin_start < hi) THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF report_bins FOR VALUES FROM (%L) TO (%L)',
                           'report_bins_' || suffix, lo, hi);
            EXECUTE format('CREATE TABLE %I PARTITION OF report_bin_breakdowns FOR VALUES FROM (%L) TO (%L)',
                           'report_bin_breakdowns_' || suffix, lo, hi);
            created := created + 1;
        END IF;
        month := next;
    END LOOP;
    RETURN created;
END $$;

-- Drops the months that end on or before `cutoff` (breakdowns first), and deletes older rows
-- from the default partitions. Returns how many months were dropped.
CREATE FUNCTION downwatch_drop_bin_partitions_before(cutoff date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.relname AS name, substring(c.relname FROM 'y\d{4}m\d{2}$') AS suffix
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = 'report_bins' AND c.relname ~ '^report_bins_y\d{4}m\d{2}$'
    LOOP
        IF (to_date(part.suffix, '"y"YYYY"m"MM') + interval '1 month')::date <= cutoff THEN
            EXECUTE format('DROP TABLE %I', 'report_bin_breakdowns_' || part.suffix);
            -- Breakdowns reference bins: the month leaves the parent before it is dropped.
            EXECUTE format('ALTER TABLE report_bins DETACH PARTITION %I', part.name);
            EXECUTE format('DROP TABLE %I', part.name);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    DELETE FROM report_bins_default WHERE bin_start < cutoff::timestamp AT TIME ZONE 'UTC';
    RETURN dropped;
END $$;

-- Every month that has data, and the months around now, then the rows moved over.
SELECT downwatch_ensure_bin_partitions((min(bin_start) AT TIME ZONE 'UTC')::date,
                                       (max(bin_start) AT TIME ZONE 'UTC')::date)
FROM report_bins_unpartitioned
HAVING count(*) > 0;
SELECT downwatch_ensure_bin_partitions((now() AT TIME ZONE 'UTC')::date,
                                       ((now() + interval '2 months') AT TIME ZONE 'UTC')::date);
INSERT INTO report_bins SELECT service_id, bin_start, total FROM report_bins_unpartitioned;
INSERT INTO report_bin_breakdowns
    SELECT service_id, bin_start, dimension, key, count FROM report_bin_breakdowns_unpartitioned;
DROP TABLE report_bin_breakdowns_unpartitioned;
DROP TABLE report_bins_unpartitioned;
