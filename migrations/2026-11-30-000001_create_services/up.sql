-- The service catalog: what people can report problems with.
CREATE TABLE services (
    id uuid PRIMARY KEY,
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    category text NOT NULL CHECK (category ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    provider text NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    problems text[] NOT NULL CHECK (cardinality(problems) BETWEEN 1 AND 32),
    archived boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX services_provider_idx ON services (provider);
CREATE INDEX services_category_idx ON services (category);
