//! `{{ app_name }}`: a dozerc app generated from {{ config_path }}.
//! Do not edit: change the config or SQL and run `dozerc build` again.

mod pipeline;
{%- if typed %}
mod typed;
{%- endif %}

use std::process::ExitCode;

use dozer_runtime::contract::{cli, ApiSettings, AppSpec, AuthSettings, CorsPolicy, QueryLimits};

/// The directory of the config the app was built from: relative source paths and `home_dir` are
/// resolved against it unless `--base-dir` (or `DOZER_BASE_DIR`) moves it.
const BASE_DIR: &str = {{ base_dir }};

fn main() -> ExitCode {
    cli::main(AppSpec {
        name: {{ app_name_literal }},
        base_dir: BASE_DIR.into(),
        home_dir: {{ home_dir }}.into(),
        map_size: {{ map_size }},
        skip_bad_records: {{ skip_bad_records }},
        batch_records: {{ batch_records }},
        api: ApiSettings {
            host: {{ rest_host }}.into(),
            rest_port: {{ rest_port }},
            grpc_host: {{ grpc_host }}.into(),
            grpc_port: {{ grpc_port }},
            rest_cors: {{ rest_cors }},
            grpc_cors: {{ grpc_cors }},
            rest_enabled: {{ rest_enabled }},
            grpc_enabled: {{ grpc_enabled }},
            default_limit: {{ default_limit }},
            limits: QueryLimits {
                max_limit: {{ max_limit }},
                ..QueryLimits::default()
            },
            max_scan: {{ max_scan }},
            auth: AuthSettings {
                secret: {{ jwt_secret }},
                leeway: {{ jwt_leeway }},
                token_ttl: {{ token_ttl }},
            },
            authenticate_reflection: {{ authenticate_reflection }},
            grpc_web: {{ grpc_web }},
            push_events: {{ push_events }},
            event_retention: {{ event_retention }},
            ..ApiSettings::default()
        },
        open: &|base, env, txn| pipeline::open(base, env, txn),
        {%- if typed %}
        typed: Some(&typed::Typed),
        {%- else %}
        typed: None,
        {%- endif %}
    })
}
