DELETE FROM incident_updates WHERE kind = 'reopened';
ALTER TABLE incident_updates DROP CONSTRAINT incident_updates_kind_check;
ALTER TABLE incident_updates ADD CONSTRAINT incident_updates_kind_check
    CHECK (kind IN ('opened', 'escalated', 'deescalated', 'resolved'));
ALTER TABLE incidents DROP COLUMN evidence;
ALTER TABLE incidents DROP CONSTRAINT incidents_began_by_opening;
ALTER TABLE incidents DROP COLUMN began_at;
