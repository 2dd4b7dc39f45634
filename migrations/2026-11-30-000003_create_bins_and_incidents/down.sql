DROP TABLE rollup_progress;
DROP TABLE incident_updates;
DROP TABLE incidents;
DROP TABLE report_bin_breakdowns;
DROP TABLE report_bins;
