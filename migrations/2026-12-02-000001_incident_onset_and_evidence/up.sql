-- Onset and detection are two times: `began_at` is where the rise began (the detector's change
-- point, looking back from the alarm), `started_at` stays the minute the incident opened (when it
-- was detected). Existing incidents had only the second; it stands in for both.
ALTER TABLE incidents ADD COLUMN began_at timestamptz;
UPDATE incidents SET began_at = started_at;
ALTER TABLE incidents ALTER COLUMN began_at SET NOT NULL;
ALTER TABLE incidents ADD CONSTRAINT incidents_began_by_opening CHECK (began_at <= started_at);

-- Why it opened: the window, the observed and expected counts, and the probability.
ALTER TABLE incidents ADD COLUMN evidence jsonb;

-- An incident that comes back shortly after it resolved continues: the timeline says so.
ALTER TABLE incident_updates DROP CONSTRAINT incident_updates_kind_check;
ALTER TABLE incident_updates ADD CONSTRAINT incident_updates_kind_check
    CHECK (kind IN ('opened', 'escalated', 'deescalated', 'resolved', 'reopened'));
