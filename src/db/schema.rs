// @generated automatically by Diesel CLI.

diesel::table! {
    app_secrets (name) {
        name -> Text,
        value -> Bytea,
        created_at -> Timestamptz,
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
    }
}

diesel::table! {
    rollup_progress (id) {
        id -> Bool,
        complete_before -> Timestamptz,
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

diesel::joinable!(incident_updates -> incidents (incident_id));
diesel::joinable!(incidents -> services (service_id));
diesel::joinable!(report_bins -> services (service_id));

diesel::allow_tables_to_appear_in_same_query!(
    app_secrets,
    incident_updates,
    incidents,
    report_bin_breakdowns,
    report_bins,
    rollup_progress,
    services,
);
