//! Compiles `../proto/*.proto` into Rust at build time with `protox`, a
//! pure-Rust protobuf compiler, so no `protoc` is ever needed on the machine.
//!
//! Messages get serde derives following the proto3 JSON mapping (lowerCamelCase
{%- if uses.grpc %}
//! field names, absent fields take their default), so the same types are the
//! REST bodies, the Kafka payloads and the gRPC messages. gRPC stubs are behind
//! the `grpc-server` / `grpc-client` features of this crate.
{%- else %}
//! field names, absent fields take their default), so the same types are the
//! REST bodies and the Kafka payloads. No service speaks gRPC, so no gRPC
//! stubs are generated.
{%- endif %}

use std::{env, fs, path::PathBuf};

use prost::Message as _;

/// Every `.proto` file of the contract, relative to the `proto/` folder.
const PROTOS: &[&str] = &["{{ contract.file }}"];

/// serde derives giving the proto3 JSON mapping of every generated message.
const SERDE_DERIVE: &str = "#[derive(serde::Serialize, serde::Deserialize)]";
const SERDE_PROTO3_JSON: &str = "#[serde(rename_all = \"camelCase\", default)]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_dir = manifest_dir.join("../proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", proto_dir.join(proto).display());
    }

    let descriptors = protox::compile(PROTOS, [&proto_dir])?;
{%- if uses.grpc_server %}
    // Served by gRPC reflection so that `grpcurl` works without the .proto file.
{%- else %}
    // The compiled contract, for tools that read it at run time.
{%- endif %}
    fs::write(
        out_dir.join("contract_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_transport(false)
{%- if uses.grpc %}
        .server_mod_attribute(".", "#[cfg(feature = \"grpc-server\")]")
        .client_mod_attribute(".", "#[cfg(feature = \"grpc-client\")]")
{%- else %}
        .build_server(false)
        .build_client(false)
{%- endif %}
        .message_attribute(".", SERDE_DERIVE)
        .message_attribute(".", SERDE_PROTO3_JSON)
        .compile_fds(descriptors)?;
    Ok(())
}
