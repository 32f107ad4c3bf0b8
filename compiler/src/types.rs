//! Column types: defined in `dozer-types`, shared with the runtime.

pub use dozer_types::SqlType;
