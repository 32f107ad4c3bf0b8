//! Compiles the gRPC services' protobuf definitions (`proto/dozer/*.proto`) into Rust with
//! tonic/prost, through protox (a protobuf compiler in Rust: no `protoc` on the build machine),
//! and keeps the descriptor set for server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "dozer/types.proto",
        "dozer/common.proto",
        "dozer/health.proto",
        "dozer/auth.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed=proto/{p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("dozer_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
