ALTER TABLE services DROP COLUMN provider_name, DROP COLUMN status_page;
