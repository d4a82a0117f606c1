//! Compiles the contract, `../proto/`, into Rust at build time with `protox`, a
//! pure-Rust protobuf compiler, so no `protoc` is ever needed on the machine.
//!
//! prost generates the messages{% if uses.grpc %} (and tonic the gRPC stubs, behind the
//! `grpc-server` / `grpc-client` features of this crate){% endif %}; `pbjson-build` generates their
//! serde implementations following the proto3 JSON mapping (lowerCamelCase
//! names, default values omitted, 64-bit integers as strings, enums by name,
//! well-known types such as `Timestamp` as RFC 3339 strings through
//! `pbjson-types`). So the same types are {% if uses.grpc %}the gRPC messages, {% endif %}the REST bodies and
//! the Kafka payloads.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

use prost::Message as _;

/// The folder of the contract, relative to this crate.
const PROTO_DIR: &str = "../proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_dir = manifest_dir.join(PROTO_DIR);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    println!("cargo:rerun-if-changed={}", proto_dir.display());
    let mut protos = Vec::new();
    find_protos(&proto_dir, &proto_dir, &mut protos)?;
    protos.sort();

    let descriptors = protox::compile(&protos, [&proto_dir])?;
    let encoded = descriptors.encode_to_vec();
    // The contract's own packages: not the imported `google.*` ones.
    let mut packages: Vec<String> = descriptors
        .file
        .iter()
        .map(|file| file.package().to_owned())
        .filter(|package| !package.starts_with("google."))
        .map(|package| format!(".{package}"))
        .collect();
    packages.sort();
    packages.dedup();
{%- if uses.grpc_server %}
    // Served by gRPC reflection so that `grpcurl` works without the .proto files.
{%- else %}
    // The compiled contract, for tools that read it at run time.
{%- endif %}
    fs::write(out_dir.join("contract_descriptor.bin"), &encoded)?;

    tonic_prost_build::configure()
        .build_transport(false)
{%- if uses.grpc %}
        .server_mod_attribute(".", "#[cfg(feature = \"grpc-server\")]")
        .client_mod_attribute(".", "#[cfg(feature = \"grpc-client\")]")
{%- else %}
        .build_server(false)
        .build_client(false)
{%- endif %}
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(descriptors)?;

    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        // Lenient readers: a field added by a newer peer is skipped, not refused.
        .ignore_unknown_fields()
        .build(&packages)?;
    Ok(())
}

/// Every `.proto` file under `dir`, as a path relative to `root` (the import
/// name), so the whole of `proto/` is the contract.
fn find_protos(
    root: &Path,
    dir: &Path,
    found: &mut Vec<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            find_protos(root, &path, found)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            println!("cargo:rerun-if-changed={}", path.display());
            let relative = path
                .strip_prefix(root)?
                .to_string_lossy()
                .replace('\\', "/");
            found.push(relative);
        }
    }
    Ok(())
}
