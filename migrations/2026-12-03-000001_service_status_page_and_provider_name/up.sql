-- The provider's official status page, shown beside the crowd's reports ("Official status: ..."),
-- and the provider's display name ("OpenAI" for the provider label `openai`).
ALTER TABLE services
    ADD COLUMN status_page text
        CHECK (status_page ~ '^https://[^[:space:]]+$' AND char_length(status_page) <= 300),
    ADD COLUMN provider_name text CHECK (char_length(provider_name) BETWEEN 1 AND 100);
