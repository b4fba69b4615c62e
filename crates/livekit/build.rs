//! Generates the FFI library's message types from the descriptor set its
//! own wheel carries (`proto/extract.py` takes it out), so the types
//! match the library byte for byte; no protoc needed.

fn main() {
    let fds_path = "proto/livekit-ffi-1.2.1.fds";
    println!("cargo:rerun-if-changed={fds_path}");
    let bytes = std::fs::read(fds_path).expect("the FFI descriptor set is in the crate");
    let fds =
        <prost_types::FileDescriptorSet as prost::Message>::decode(bytes.as_slice()).expect("a valid descriptor set");
    prost_build::Config::new().compile_fds(fds).expect("generate the FFI types");
}
