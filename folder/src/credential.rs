//! A credential as the config gives it: written in it (and so compiled in), or the name of the
//! environment variable the app reads it from when it starts (the config said `{{VAR}}`).

/// How to find a credential.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Not in the config: the store's own defaults apply (for S3, the `AWS_*` variables).
    None,
    Literal(String),
    Env(String),
}

impl Credential {
    /// The credential, if the config gives one; an error naming `key` when its variable is not
    /// set.
    pub fn resolve(&self, key: &str) -> Result<Option<String>, String> {
        match self {
            Credential::None => Ok(None),
            Credential::Literal(s) => Ok(Some(s.clone())),
            Credential::Env(var) => std::env::var(var).map(Some).map_err(|_| {
                format!("`{key}` comes from the environment variable {var} (as the config says), which is not set")
            }),
        }
    }
}

/// Never the credential itself, so that a location can be logged.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::None => f.write_str("None"),
            Credential::Literal(_) => f.write_str("Literal(..)"),
            Credential::Env(var) => write!(f, "Env({var:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_that_is_not_set_is_named() {
        let var = "DOZER_FOLDER_TEST_NEVER_SET";
        assert!(std::env::var_os(var).is_none());
        let said = Credential::Env(var.into())
            .resolve("secret_access_key")
            .unwrap_err();
        assert!(
            said.contains(var) && said.contains("`secret_access_key`"),
            "{said}"
        );
        assert_eq!(Credential::None.resolve("x"), Ok(None));
        assert_eq!(
            format!("{:?}", Credential::Literal("hunter2".into())),
            "Literal(..)"
        );
    }
}
