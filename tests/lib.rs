//! Shared code of dozerc's end-to-end tests (`tests/*.rs` beside this file), and the front-end
//! fuzzer that `cargo xtask fuzz` runs for minutes and the test suite runs briefly.

pub mod app;
pub mod front_end;
pub mod fuzz;
pub mod gen_data;
pub mod rng;
