//! Why code generation stopped.
//!
//! `dozerc check` runs code generation too, so everything `build` would refuse is refused at
//! check time, located: a refusal names what is not supported yet and where it was written.

use crate::diagnostic::{Diagnostic, Span};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodegenError {
    /// Valid, but not compiled yet: what, and where the config or SQL asks for it.
    Unsupported { what: String, at: Span },
    /// A bug in dozerc: the plan broke an invariant code generation relies on.
    Internal(String),
}

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodegenError::Unsupported { what, .. } => write!(f, "not supported yet: {what}"),
            CodegenError::Internal(what) => write!(
                f,
                "internal error in code generation: {what} (please report this with your config)"
            ),
        }
    }
}

impl std::error::Error for CodegenError {}

impl CodegenError {
    pub fn unsupported(what: impl Into<String>, at: Span) -> Self {
        CodegenError::Unsupported {
            what: what.into(),
            at,
        }
    }

    /// The error as a diagnostic: located when it is a refusal.
    pub fn diagnostic(&self) -> Diagnostic {
        match self {
            CodegenError::Unsupported { what, at } => {
                Diagnostic::error("codegen::unsupported", format!("not supported yet: {what}"))
                    .label(*at, "not supported yet")
                    .help("the config is valid, but apps cannot run this part yet: leave it out, or use what the message suggests")
            }
            CodegenError::Internal(_) => Diagnostic::error("codegen::internal", self.to_string())
                .help("this is a bug in dozerc; please report it with the config"),
        }
    }
}
