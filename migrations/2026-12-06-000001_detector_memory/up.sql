-- Each service's detector memory (src/detect/memory.rs): what its detector learned besides the
-- baseline (each window's noise and tail, the incidents it remembers), which the stored bins
-- cannot teach. The monitor that watches the service saves it again once the last save is a bin
-- old; the next one (a new leader, a restart) recalls it at the minute before saved_at. A memory is kept for the model that learned it: `model` is
-- `detect::readings::model_id` (the parameters and the model's revision), and a monitor running
-- another model ignores it and learns afresh.
CREATE TABLE detector_memories (
    service_id uuid PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    model bigint NOT NULL,
    saved_at timestamptz NOT NULL,
    memory jsonb NOT NULL
);
