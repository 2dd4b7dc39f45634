-- The provider's official status page, shown beside the crowd's reports ("Official status: ...").
ALTER TABLE services ADD COLUMN status_page text
    CHECK (status_page ~ '^https://[^[:space:]]+$' AND char_length(status_page) <= 300);
