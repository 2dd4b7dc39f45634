// @generated automatically by Diesel CLI.

diesel::table! {
    app_secrets (name) {
        name -> Text,
        value -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    deliveries (id) {
        id -> Int8,
        subscription_id -> Uuid,
        update_id -> Nullable<Int8>,
        webhook_id -> Uuid,
        event -> Text,
        body -> Text,
        state -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        claimed_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    delivery_attempts (id) {
        id -> Int8,
        delivery_id -> Int8,
        at -> Timestamptz,
        status -> Nullable<Int4>,
        error -> Nullable<Text>,
        latency_ms -> Int4,
        response -> Nullable<Text>,
    }
}

diesel::table! {
    detector_memories (service_id) {
        service_id -> Uuid,
        model -> Int8,
        saved_at -> Timestamptz,
        memory -> Jsonb,
    }
}

diesel::table! {
    incident_updates (id) {
        id -> Int8,
        incident_id -> Uuid,
        at -> Timestamptz,
        kind -> Text,
        level -> Text,
        reports -> Int4,
        baseline -> Float8,
        fanned_out -> Bool,
    }
}

diesel::table! {
    incidents (id) {
        id -> Uuid,
        service_id -> Uuid,
        started_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        level -> Text,
        highest_level -> Text,
        peak_at -> Timestamptz,
        peak_minute_count -> Int4,
        peak_bin_at -> Timestamptz,
        peak_bin_count -> Int4,
        baseline_at_peak -> Float8,
        total_reports -> Int8,
        problem_counts -> Jsonb,
        country_counts -> Jsonb,
        updated_at -> Timestamptz,
        began_at -> Timestamptz,
        evidence -> Nullable<Jsonb>,
    }
}

diesel::table! {
    report_bin_breakdowns (service_id, bin_start, dimension, key) {
        service_id -> Uuid,
        bin_start -> Timestamptz,
        dimension -> Text,
        key -> Text,
        count -> Int4,
    }
}

diesel::table! {
    report_bins (service_id, bin_start) {
        service_id -> Uuid,
        bin_start -> Timestamptz,
        total -> Int4,
        baseline -> Nullable<Float8>,
        upper -> Nullable<Float8>,
        level -> Nullable<Text>,
        hour_baseline -> Nullable<Float8>,
        hour_upper -> Nullable<Float8>,
        hour_level -> Nullable<Text>,
    }
}

diesel::table! {
    rollup_progress (id) {
        id -> Bool,
        complete_before -> Timestamptz,
        readings_from -> Nullable<Timestamptz>,
        readings_before -> Nullable<Timestamptz>,
        readings_model -> Nullable<Int8>,
        readings_generation -> Int8,
    }
}

diesel::table! {
    shard_progress (shards, shard) {
        shards -> Int4,
        shard -> Int4,
        complete_before -> Timestamptz,
        readings_from -> Nullable<Timestamptz>,
        readings_before -> Nullable<Timestamptz>,
        readings_model -> Nullable<Int8>,
    }
}

diesel::table! {
    services (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        category -> Text,
        provider -> Text,
        problems -> Array<Nullable<Text>>,
        archived -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        status_page -> Nullable<Text>,
        provider_name -> Nullable<Text>,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Uuid,
        name -> Text,
        url -> Text,
        format -> Text,
        min_level -> Text,
        kinds -> Array<Nullable<Text>>,
        services -> Array<Nullable<Text>>,
        providers -> Array<Nullable<Text>>,
        categories -> Array<Nullable<Text>>,
        enabled -> Bool,
        secret -> Text,
        paused_reason -> Nullable<Text>,
        permanent_failures -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(deliveries -> incident_updates (update_id));
diesel::joinable!(deliveries -> subscriptions (subscription_id));
diesel::joinable!(delivery_attempts -> deliveries (delivery_id));
diesel::joinable!(detector_memories -> services (service_id));
diesel::joinable!(incident_updates -> incidents (incident_id));
diesel::joinable!(incidents -> services (service_id));
diesel::joinable!(report_bins -> services (service_id));

diesel::allow_tables_to_appear_in_same_query!(
    app_secrets,
    deliveries,
    delivery_attempts,
    detector_memories,
    incident_updates,
    incidents,
    report_bin_breakdowns,
    report_bins,
    rollup_progress,
    services,
    shard_progress,
    subscriptions,
);
