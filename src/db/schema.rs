// @generated automatically by Diesel CLI.

diesel::table! {
    artifacts (id) {
        id -> Int4,
        job_id -> Int4,
        path -> Text,
        size -> Int8,
        sha256 -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    endpoints (id) {
        id -> Int4,
        name -> Text,
        uri -> Text,
        engine_version -> Nullable<Text>,
        api_version -> Nullable<Text>,
        last_checked_at -> Nullable<Timestamptz>,
        last_seen_at -> Nullable<Timestamptz>,
        healthy -> Nullable<Bool>,
        last_error -> Nullable<Text>,
        set_at -> Timestamptz,
        set_by -> Text,
        timeout_ms -> Nullable<Int4>,
    }
}

diesel::table! {
    env_vars (id) {
        id -> Int4,
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    git_hashes (id) {
        id -> Int4,
        hash -> Text,
    }
}

diesel::table! {
    hash_keys (name) {
        name -> Text,
        key -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    image_digests (id) {
        id -> Int4,
        image_id -> Int4,
        digest -> Text,
        first_seen -> Timestamptz,
        last_seen -> Timestamptz,
    }
}

diesel::table! {
    images (id) {
        id -> Int4,
        name -> Text,
    }
}

diesel::table! {
    job_attempts (id) {
        id -> Int4,
        job_id -> Int4,
        attempt -> Int4,
        endpoint_id -> Int4,
        container_id -> Nullable<Text>,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Text>,
        error_message -> Nullable<Text>,
    }
}

diesel::table! {
    job_dependencies (job_id, dependency_job_id) {
        job_id -> Int4,
        dependency_job_id -> Int4,
        kind -> Text,
    }
}

diesel::table! {
    job_envs (job_id, env_id) {
        job_id -> Int4,
        env_id -> Int4,
    }
}

diesel::table! {
    job_input_artifacts (job_id, artifact_id) {
        job_id -> Int4,
        artifact_id -> Int4,
    }
}

diesel::table! {
    jobs (id) {
        id -> Int4,
        uuid -> Uuid,
        submit_id -> Int4,
        package_id -> Int4,
        image_id -> Int4,
        image_digest -> Nullable<Text>,
        endpoint_id -> Nullable<Int4>,
        container_id -> Nullable<Text>,
        status -> Text,
        queued_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        exit_status -> Nullable<Int4>,
        failed_phase -> Nullable<Text>,
        error_message -> Nullable<Text>,
        script -> Text,
        build_key -> Text,
        build_key_inputs -> Jsonb,
        reused_job_id -> Nullable<Int4>,
        log_bytes -> Int8,
        log_truncated -> Bool,
        build_reason -> Nullable<Text>,
        set_at -> Timestamptz,
        set_by -> Text,
    }
}

diesel::table! {
    log_chunks (job_id, seq) {
        job_id -> Int4,
        seq -> Int4,
        written_at -> Timestamptz,
        first_line -> Int8,
        line_count -> Int4,
        raw_bytes -> Int4,
        data -> Bytea,
    }
}

diesel::table! {
    packages (id) {
        id -> Int4,
        name -> Text,
        version -> Text,
    }
}

diesel::table! {
    release_stores (id) {
        id -> Int4,
        name -> Text,
    }
}

diesel::table! {
    releases (id) {
        id -> Int4,
        artifact_id -> Int4,
        release_store_id -> Int4,
        released_at -> Timestamptz,
        released_by -> Text,
        package_id -> Int4,
        path -> Text,
        released_host -> Text,
        removed_at -> Nullable<Timestamptz>,
        removed_by -> Nullable<Text>,
        removed_host -> Nullable<Text>,
        removal -> Nullable<Text>,
        set_at -> Timestamptz,
        set_by -> Text,
    }
}

diesel::table! {
    submit_changes (submit_id) {
        submit_id -> Int4,
        size -> Int8,
        patch -> Bytea,
    }
}

diesel::table! {
    submit_envs (submit_id, env_id) {
        submit_id -> Int4,
        env_id -> Int4,
    }
}

diesel::table! {
    submits (id) {
        id -> Int4,
        uuid -> Uuid,
        started_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        status -> Text,
        requested_package_id -> Int4,
        requested_image_id -> Int4,
        repo_hash_id -> Int4,
        repo_dirty -> Bool,
        repo_diff_sha256 -> Nullable<Text>,
        submitter_user -> Text,
        submitter_host -> Text,
        kiln_version -> Text,
        tree -> Jsonb,
        plan -> Jsonb,
        alive_until -> Nullable<Timestamptz>,
        owner_machine -> Nullable<Text>,
        owner_pid -> Nullable<Int4>,
        owner_started -> Nullable<Int8>,
        reproduces_submit_id -> Nullable<Int4>,
        set_at -> Timestamptz,
        set_by -> Text,
    }
}

diesel::joinable!(artifacts -> jobs (job_id));
diesel::joinable!(image_digests -> images (image_id));
diesel::joinable!(job_attempts -> endpoints (endpoint_id));
diesel::joinable!(job_attempts -> jobs (job_id));
diesel::joinable!(job_envs -> env_vars (env_id));
diesel::joinable!(job_envs -> jobs (job_id));
diesel::joinable!(job_input_artifacts -> artifacts (artifact_id));
diesel::joinable!(job_input_artifacts -> jobs (job_id));
diesel::joinable!(jobs -> endpoints (endpoint_id));
diesel::joinable!(jobs -> images (image_id));
diesel::joinable!(jobs -> packages (package_id));
diesel::joinable!(jobs -> submits (submit_id));
diesel::joinable!(log_chunks -> jobs (job_id));
diesel::joinable!(releases -> artifacts (artifact_id));
diesel::joinable!(releases -> packages (package_id));
diesel::joinable!(releases -> release_stores (release_store_id));
diesel::joinable!(submit_changes -> submits (submit_id));
diesel::joinable!(submit_envs -> env_vars (env_id));
diesel::joinable!(submit_envs -> submits (submit_id));
diesel::joinable!(submits -> git_hashes (repo_hash_id));
diesel::joinable!(submits -> images (requested_image_id));
diesel::joinable!(submits -> packages (requested_package_id));

diesel::allow_tables_to_appear_in_same_query!(
    artifacts,
    endpoints,
    env_vars,
    git_hashes,
    hash_keys,
    image_digests,
    images,
    job_attempts,
    job_dependencies,
    job_envs,
    job_input_artifacts,
    jobs,
    log_chunks,
    packages,
    release_stores,
    releases,
    submit_changes,
    submit_envs,
    submits,
);
