//! The gRPC server: Dozer's services, reflection and gRPC-Web on one port, and the typed
//! services when the app has them.

use std::sync::Arc;

use crate::api::state::ApiState;
use crate::proto::auth::auth_grpc_service_server::AuthGrpcServiceServer;
use crate::proto::common::common_grpc_service_server::CommonGrpcServiceServer;
use crate::proto::health::health_grpc_service_server::HealthGrpcServiceServer;

/// Largest request metadata (HTTP/2 header list) accepted.
const MAX_HEADER_LIST_BYTES: u32 = 64 * 1024;

/// Serves the gRPC services and reflection until `shutdown` completes; with `flags.grpc_web`
/// the same port also answers gRPC-Web requests (HTTP/1.1, with CORS for browsers).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ApiState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Reflection describes the typed services too (their files import the common types).
    let typed = state.typed;
    let descriptors = |builder: tonic_reflection::server::Builder<'static>| {
        let builder = builder.register_encoded_file_descriptor_set(crate::proto::DESCRIPTOR_SET);
        match typed {
            Some(t) => builder.register_encoded_file_descriptor_set(t.descriptor_set()),
            None => builder,
        }
    };
    let reflection_v1 = descriptors(tonic_reflection::server::Builder::configure()).build_v1()?;
    let reflection_v1alpha =
        descriptors(tonic_reflection::server::Builder::configure()).build_v1alpha()?;
    let grpc_web = state.settings.grpc_web;
    let max_message = state.settings.max_body;
    let routes = tonic::service::Routes::new(
        CommonGrpcServiceServer::new(super::service::Common {
            state: state.clone(),
        })
        .max_decoding_message_size(max_message),
    )
    .add_service(
        HealthGrpcServiceServer::new(super::service::Health).max_decoding_message_size(max_message),
    )
    .add_service(
        AuthGrpcServiceServer::new(super::service::Auth {
            state: state.clone(),
        })
        .max_decoding_message_size(max_message),
    );
    let routes = if state.auth.is_some() && state.settings.authenticate_reflection {
        // Any valid token may describe the services.
        let check = {
            let state = state.clone();
            move |request: tonic::Request<()>| {
                super::service::grant(&state, request.metadata())?;
                Ok(request)
            }
        };
        routes
            .add_service(tonic::service::interceptor::InterceptedService::new(
                reflection_v1,
                check.clone(),
            ))
            .add_service(tonic::service::interceptor::InterceptedService::new(
                reflection_v1alpha,
                check,
            ))
    } else {
        routes
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
    };
    let routes = match typed {
        Some(t) => super::typed::add_services(routes, &state, t),
        None => routes,
    };
    // No Nagle: an answer written in several frames would otherwise wait for the client's
    // delayed ACK (40 ms).
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut server = tonic::transport::Server::builder()
        .accept_http1(grpc_web)
        // A unary call answers within the API's timeout (streams run on past it).
        .timeout(state.settings.timeout)
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES);
    if grpc_web {
        // Browsers call gRPC-Web across origins as the config's `api.grpc.cors` allows.
        let cors = state.settings.grpc_cors.layer();
        server
            .layer(cors)
            .layer(tonic_web::GrpcWebLayer::new())
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
    } else {
        server
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
    }
    Ok(())
}
