//! The settings screen's Install button: a real install from the package
//! registry (PyPI, the one network the app may use) into a fresh models
//! folder, through the real server; the same installer as the setup script.

use std::time::Duration;

use serde_json::json;
use switchboard_tests::{TestServer, config, expect_error};

#[tokio::test]
async fn the_install_button_fetches_a_pinned_model_and_bad_requests_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.models_dir = Some(models.path().to_path_buf());
    let s = TestServer::start(c).await;

    let view = s.get_json("/api/models", 200).await;
    let silero = view["models"].as_array().unwrap().iter().find(|m| m["id"] == "silero-vad").unwrap().clone();
    assert_eq!(silero["state"], "missing", "{silero}");
    assert_eq!(view["install"]["running"], false);

    // Bad requests: nothing starts.
    expect_error(
        s.post("/api/models/install", &json!({"ids": ["no-such-model"]})).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let many: Vec<String> = (0..33).map(|i| format!("m{i}")).collect();
    expect_error(s.post("/api/models/install", &json!({"ids": many})).send().await.unwrap(), 422, "validation_failed")
        .await;
    let resp = s.post("/api/models/install", &json!({"ids": ["silero-vad"], "force": true})).send().await.unwrap();
    assert!(resp.status().is_client_error(), "unknown fields are refused: {}", resp.status());
    assert_eq!(s.get_json("/api/models", 200).await["install"]["running"], false);

    let job = s.post_json("/api/models/install", &json!({"ids": ["silero-vad"]}), 202).await;
    assert_eq!(job["models"], json!(["silero-vad"]));
    assert_eq!(job["running"], true);
    // One install at a time.
    expect_error(s.post("/api/models/install", &json!({})).send().await.unwrap(), 409, "conflict").await;

    let done = switchboard_tests::eventually(Duration::from_secs(120), || async {
        let v = s.get_json("/api/models", 200).await;
        (v["install"]["running"] == false).then_some(v)
    })
    .await;
    assert!(done["install"]["error"].is_null(), "{}", done["install"]);
    let silero = done["models"].as_array().unwrap().iter().find(|m| m["id"] == "silero-vad").unwrap().clone();
    assert_eq!(silero["state"], "installed", "{silero}");
    assert_eq!(done["install"]["progress"]["stage"], "done");
    // Verified by content, and nothing temporary is left beside it.
    let model = switchboard_models::find("silero-vad").unwrap();
    assert_eq!(
        switchboard_models::install::verify(models.path(), model).unwrap(),
        switchboard_models::State::Installed
    );
    let leftovers: Vec<_> = std::fs::read_dir(models.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    s.stop().await;
}
