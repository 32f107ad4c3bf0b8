//! The gRPC API: Dozer's `dozer.common.CommonGrpcService` and `dozer.health.HealthGrpcService`
//! with their exact wire shapes (so pydozer works unchanged), and server reflection (v1 and the
//! v1alpha that pydozer's `describe()` uses).

pub mod convert;
pub mod service;

/// Code generated from `proto/dozer/*.proto` by the build script.
#[allow(clippy::all, clippy::pedantic, missing_docs, non_camel_case_types)]
pub mod proto {
    pub mod types {
        tonic::include_proto!("dozer.types");
    }
    pub mod common {
        tonic::include_proto!("dozer.common");
    }
    pub mod health {
        tonic::include_proto!("dozer.health");
    }

    /// The services' file descriptors (for reflection).
    pub const DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("dozer_descriptor");
}

use std::sync::Arc;

use self::proto::common::common_grpc_service_server::CommonGrpcServiceServer;
use self::proto::health::health_grpc_service_server::HealthGrpcServiceServer;
use super::rest::ApiState;

/// Serves the gRPC services and reflection until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ApiState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::DESCRIPTOR_SET)
        .build_v1alpha()?;
    tonic::transport::Server::builder()
        .add_service(CommonGrpcServiceServer::new(service::Common { state }))
        .add_service(HealthGrpcServiceServer::new(service::Health))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await?;
    Ok(())
}
