DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE subscriptions;
DROP INDEX incident_updates_to_fan_out;
ALTER TABLE incident_updates DROP COLUMN fanned_out;
