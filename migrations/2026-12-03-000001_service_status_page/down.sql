ALTER TABLE services DROP COLUMN status_page;
