//! Runtime linked into every app binary that `dozerc build` emits.
//!
//! The code-generation issue fills this crate with sources, incremental operators, the LMDB store and
//! the API servers; today it only fixes the crate boundary so the workspace has its final shape.
