//! What SQL may call and convert, in one place for the binder and the code generator.
//!
//! Each entry says what the binder needs (which types it takes, what it returns, whether NULL in
//! gives NULL out) and what code generation needs (the runtime function in
//! `dozer_runtime::contract::sql`, whether it can fail at run time), so a cast or function the
//! binder accepts is one code generation can emit, and one the runtime has.

pub mod aggregates;
pub mod casts;
pub mod functions;
