//! Secrets an image must not carry: a config value compiled into the binary ends up in every
//! copy of the image, in every registry it is pushed to. `dozerc build --image` refuses a config
//! that writes a password or a JWT secret literally, and says how to read it from the environment
//! instead (the config's `{{NAME}}` form, which the app reads when it starts).

use crate::catalog::read::{client_config, mysql_url};
use crate::config::{Config, ConnectionKind, FileStorage, FileStore};
use crate::diagnostic::Diagnostic;

/// One error per secret written literally in the config, at the value.
pub fn literal_secrets(config: &Config) -> Vec<Diagnostic> {
    let mut found = vec![];
    for connection in &config.connections {
        let name = &connection.name.value;
        let var = format!("{}_PASSWORD", env_name(name));
        if let ConnectionKind::Files(FileStorage {
            store: FileStore::S3(s3),
            ..
        }) = &connection.kind
        {
            if let Some(secret) = s3
                .secret_access_key
                .as_ref()
                .filter(|_| s3.secret_access_key_env.is_none())
            {
                found.push(
                    Diagnostic::error(
                        "image::literal-secret",
                        format!("the `secret_access_key` of connection `{name}` would be compiled into the image"),
                    )
                    .label(secret.span, "written in the config")
                    .help("read it from the environment when the app starts: `secret_access_key: \"{{AWS_SECRET_ACCESS_KEY}}\"`, or leave it out and run the app with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set"),
                );
            }
            continue;
        }
        if let ConnectionKind::MySql(my) = &connection.kind {
            let literal = mysql_url(&my.url.value).is_ok_and(|u| u.password.is_some());
            if literal && my.password_env.is_none() {
                found.push(
                    Diagnostic::error(
                        "image::literal-secret",
                        format!("`url` of connection `{name}` holds a password that would be compiled into the image"),
                    )
                    .label(my.url.span, "a password in the URL")
                    .help(format!(
                        "read it from the environment when the app starts: `url: mysql://user:{{{{{var}}}}}@host:3306/db`, then `podman run -e {var}=...`"
                    )),
                );
            }
            continue;
        }
        let ConnectionKind::Postgres(pg) = &connection.kind else {
            continue;
        };
        if pg.password_env.is_none() {
            if let Some(password) = &pg.password {
                found.push(
                    Diagnostic::error(
                        "image::literal-secret",
                        format!("the password of connection `{name}` would be compiled into the image"),
                    )
                    .label(password.span, "written in the config")
                    .help(format!(
                        "read it from the environment when the app starts: `password: \"{{{{{var}}}}}\"`, then `podman run -e {var}=...`"
                    )),
                );
            }
        }
        let url_password = pg
            .connection_url
            .as_ref()
            .filter(|_| client_config(pg).is_ok_and(|c| c.get_password().is_some()))
            .filter(|_| pg.password.is_none() && pg.password_env.is_none());
        if let Some(url) = url_password {
            found.push(
                Diagnostic::error(
                    "image::literal-secret",
                    format!("`connection_url` of connection `{name}` holds a password that would be compiled into the image"),
                )
                .label(url.span, "a password in the URL")
                .help(format!(
                    "take the password out of the URL and add `password: \"{{{{{var}}}}}\"`, then `podman run -e {var}=...`"
                )),
            );
        }
    }
    if let (Some(secret), None) = (&config.api.jwt_secret, &config.api.jwt_secret_env) {
        found.push(
            Diagnostic::error(
                "image::literal-secret",
                "the API's JWT secret would be compiled into the image",
            )
            .label(secret.span, "written in the config")
            .help(
                "read it from the environment: `api_security: !Jwt \"{{JWT_SECRET}}\"`, then `podman run -e JWT_SECRET=...`",
            ),
        );
    }
    found
}

/// A connection name as an environment variable's: `pg-main` → `PG_MAIN`.
fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}
