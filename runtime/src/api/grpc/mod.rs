//! The gRPC API: Dozer's `dozer.common.CommonGrpcService`, `dozer.health.HealthGrpcService` and
//! `dozer.auth.AuthGrpcService` with their exact wire shapes (so pydozer works unchanged), server
//! reflection (v1 and the v1alpha that pydozer's `describe()` uses; behind a token with
//! `flags.authenticate_server_reflection`), and gRPC-Web on the same port. Health stays open.

pub mod convert;
pub mod messages;
pub mod server;
pub mod service;
pub mod typed;
