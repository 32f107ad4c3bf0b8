//! Where a database connection's password comes from: the config, or an environment variable
//! read when the app starts (the config said `{{VAR}}`), so that a secret is never compiled in.

use crate::source::chunk::SourceError;

/// How to find the password of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Password {
    None,
    /// Written in the config.
    Literal(String),
    /// From this environment variable when the app starts (the config said `{{NAME}}`), so the
    /// secret is not compiled into the binary.
    Env(String),
}

impl Password {
    /// The password of connection `connection` (named in the message when its variable is unset).
    pub fn resolve(&self, connection: &str) -> Result<String, SourceError> {
        match self {
            Password::None => Ok(String::new()),
            Password::Literal(p) => Ok(p.clone()),
            Password::Env(var) => std::env::var(var).map_err(|_| SourceError {
                file: None,
                line: None,
                message: format!(
                    "connection `{connection}`: the password comes from the environment variable {var} (as the config says), which is not set"
                ),
            }),
        }
    }
}
