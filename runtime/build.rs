//! Compiles the gRPC services' protobuf definitions (`proto/dozer/*.proto`) into Rust with
//! tonic/prost, through protox (a protobuf compiler in Rust: no `protoc` on the build machine),
//! and keeps the descriptor set for server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The API's services, and the push ingestion server's (a `!Grpc` connection's, on a port of
    // its own): each server's reflection lists only what it serves.
    let api = [
        "dozer/types.proto",
        "dozer/common.proto",
        "dozer/health.proto",
        "dozer/auth.proto",
    ];
    let ingest = ["dozer/ingest.proto"];
    for p in api.iter().chain(&ingest) {
        println!("cargo:rerun-if-changed=proto/{p}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    for (name, protos) in [
        ("dozer_descriptor", &api[..]),
        ("dozer_ingest_descriptor", &ingest),
    ] {
        let fds = protox::compile(protos, ["proto"])?;
        std::fs::write(
            out.join(format!("{name}.bin")),
            prost::Message::encode_to_vec(&fds),
        )?;
    }
    let all = protox::compile(api.iter().chain(&ingest), ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(all)?;
    Ok(())
}
