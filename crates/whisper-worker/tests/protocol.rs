//! The worker's protocol at its edges: a model that does not load, and a
//! request out of step. (Transcription itself is tested end to end in
//! `tests/tests/voice.rs` with the installed models.) Having a test here
//! also makes `cargo test --workspace` build the worker binary, which the
//! end-to-end tests start.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard-whisper");

#[test]
fn a_file_that_is_not_a_model_is_reported_on_the_first_line() {
    let dir = std::env::temp_dir().join(format!("sb-whisper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, vec![3u8; 1000]).unwrap();
    let out = Command::new(BIN).arg(&junk).stderr(Stdio::null()).output().unwrap();
    let first = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_string();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert!(v["error"].as_str().unwrap().contains("does not load"), "{v}");
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn without_arguments_it_says_how_to_use_it() {
    let out = Command::new(BIN).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

#[test]
fn a_request_out_of_step_is_refused_and_the_worker_exits() {
    let model = std::env::var_os("SWITCHBOARD_MODELS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/switchboard/models"))
        .join("whisper/ggml-tiny.en.bin");
    assert!(model.is_file(), "run switchboard models install first ({})", model.display());
    let mut child = Command::new(BIN)
        .arg(&model)
        .arg("1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("\"ready\":true"), "{line}");
    let mut stdin = child.stdin.take().unwrap();
    // Half a second of silence is a valid request.
    stdin.write_all(b"{\"samples\":8000,\"language\":null}\n").unwrap();
    stdin.write_all(&vec![0u8; 8000 * 4]).unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(v["text"].is_string() && v["language"] == "en", "{v}");
    // Then garbage where a header should be.
    stdin.write_all(b"not json\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("bad request"), "{line}");
    assert!(child.wait().unwrap().success());
}
