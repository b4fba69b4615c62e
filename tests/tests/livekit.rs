//! LiveKit against a real LiveKit server (built from its Go module by the
//! setup script, started on free loopback ports by the harness): tokens per
//! role that the server accepts, rooms created, listed, shown and deleted
//! through the RoomService, and clear errors when LiveKit is unconfigured,
//! misconfigured or down.

use livekit_api::access_token::TokenVerifier;
use serde_json::{Value, json};
use switchboard_tests::livekit::{KEY, LiveKitServer, SECRET};
use switchboard_tests::{TestServer, config, expect, expect_error};

async fn server_with(lk: Option<switchboard_livekit::LiveKitConfig>) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    if let Some(lk) = lk {
        c.livekit = lk;
    }
    let s = TestServer::start(c).await;
    (dir, s)
}

/// The LiveKit server's own check of a join token (what a client's connect
/// does first).
async fn server_accepts(lk: &LiveKitServer, token: &str) -> bool {
    let url = format!("{}/rtc/validate?access_token={token}", lk.http());
    reqwest::get(url).await.unwrap().status().is_success()
}

#[tokio::test]
async fn tokens_carry_each_roles_grants_and_the_server_accepts_them() {
    let lk = LiveKitServer::start();
    let (_dir, s) = server_with(Some(lk.config())).await;
    let verifier = TokenVerifier::with_api_key(KEY, SECRET);
    let mut seen = Vec::new();
    for role in ["interviewer", "candidate", "agent", "participant", "viewer"] {
        let body = json!({"room_name": "interview-7", "participant_identity": format!("p-{role}"),
            "participant_name": "Kim Lee", "role": role});
        let g = s.post_json("/api/tokens/generate", &body, 200).await;
        assert_eq!(
            (g["room_name"].as_str(), g["participant_identity"].as_str(), g["url"].as_str(), g["role"].as_str()),
            (Some("interview-7"), Some(format!("p-{role}").as_str()), Some(lk.url().as_str()), Some(role))
        );
        let token = g["token"].as_str().unwrap();
        let claims = verifier.verify(token).expect("our own token verifies");
        assert_eq!((claims.name.as_str(), claims.video.room.as_str()), ("Kim Lee", "interview-7"));
        let v = claims.video;
        seen.push((role, v.can_publish, v.can_subscribe, v.can_publish_data, v.room_admin));
        assert!(server_accepts(&lk, token).await, "the LiveKit server refused the {role} token");
    }
    let (t, f) = (Some(true), Some(false));
    assert_eq!(
        seen,
        [
            ("interviewer", t, t, f, true),
            ("candidate", t, t, f, false),
            ("agent", t, t, t, false),
            ("participant", t, t, f, false),
            ("viewer", f, t, f, false),
        ]
    );
    // A token signed with another secret is refused by the server too.
    let other = switchboard_livekit::LiveKit::new(switchboard_livekit::LiveKitConfig {
        api_secret: Some("not-the-secret-of-this-server-0123456".into()),
        ..lk.config()
    })
    .unwrap();
    let forged = other
        .token(
            "interview-7",
            "mallory",
            None,
            switchboard_livekit::ParticipantRole::Interviewer,
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    assert!(!server_accepts(&lk, &forged.token).await);

    // The widget's token: a fresh room and identity unless given.
    let w = s.get_json("/api/get-livekit-token", 200).await;
    assert!(w["token"].as_str().is_some_and(|t| t.len() > 40) && w["serverUrl"] == lk.url().as_str(), "{w}");
    assert!(w["room_name"].as_str().unwrap().starts_with("call-"));
    let w2 = s.get_json("/api/get-livekit-token?room=lobby&identity=web-1", 200).await;
    assert_eq!((w2["room_name"].as_str(), w2["participant_identity"].as_str()), (Some("lobby"), Some("web-1")));
    assert!(server_accepts(&lk, w2["token"].as_str().unwrap()).await);
    // The secret never reaches a client.
    for v in [&w, &w2] {
        assert!(!v.to_string().contains(SECRET));
    }

    // Bad input: each a clear 422 (or 400 for a malformed query).
    for (body, field) in [
        (json!({"room_name": "r", "participant_identity": "kim", "role": "admin"}), "role"),
        (json!({"room_name": "", "participant_identity": "kim", "role": "viewer"}), "room_name"),
        (json!({"room_name": "a room", "participant_identity": "kim", "role": "viewer"}), "room_name"),
        (json!({"room_name": "r", "participant_identity": "", "role": "viewer"}), "participant_identity"),
        (
            json!({"room_name": "r", "participant_identity": "kim", "participant_name": "a\u{0007}b", "role": "viewer"}),
            "participant_name",
        ),
        (json!({"room_name": "r", "role": "viewer"}), "participant_identity"),
    ] {
        let e =
            expect_error(s.post("/api/tokens/generate", &body).send().await.unwrap(), 422, "validation_failed").await;
        assert!(e["message"].as_str().unwrap().contains(field), "{field}: {e}");
    }
    expect_error(s.get("/api/get-livekit-token?room=a%20b").send().await.unwrap(), 422, "validation_failed").await;
    s.stop().await;
}

#[tokio::test]
async fn rooms_are_created_listed_shown_and_deleted_on_the_real_server() {
    let lk = LiveKitServer::start();
    let (_dir, s) = server_with(Some(lk.config())).await;
    let r = s.post_json("/api/rooms/create", &json!({"room_name": "interview-kim", "max_participants": 3}), 201).await;
    assert_eq!((r["name"].as_str(), r["max_participants"].as_u64()), (Some("interview-kim"), Some(3)));
    assert!(r["sid"].as_str().is_some_and(|s| s.starts_with("RM_")), "{r}");
    assert!(r["creation_time"].as_i64().is_some_and(|t| t > 1_700_000_000), "{r}");
    assert_eq!(r["url"], lk.url().as_str());
    let verifier = TokenVerifier::with_api_key(KEY, SECRET);
    for (seat, identity, admin) in [
        ("interviewer_token", "interviewer", true),
        ("candidate_token", "candidate", false),
        ("agent_token", "switchboard-agent", false),
    ] {
        let token = r[seat].as_str().unwrap();
        let c = verifier.verify(token).unwrap();
        assert_eq!((c.sub.as_str(), c.video.room.as_str(), c.video.room_admin), (identity, "interview-kim", admin));
        assert!(server_accepts(&lk, token).await, "{seat}");
    }
    let unnamed = s.post_json("/api/rooms/create", &json!({}), 201).await;
    let unnamed = unnamed["name"].as_str().unwrap().to_string();
    assert!(unnamed.starts_with("room-"));

    let rooms = s.get_json("/api/rooms", 200).await;
    let mut names: Vec<&str> = rooms.as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    names.sort();
    let mut want = vec!["interview-kim", unnamed.as_str()];
    want.sort();
    assert_eq!(names, want);
    assert_eq!(s.get_json("/api/rooms/interview-kim/participants", 200).await, json!([]));

    let del =
        s.client.delete(s.url("/api/rooms/interview-kim")).bearer_auth(switchboard_tests::TOKEN).send().await.unwrap();
    assert_eq!(del.status(), 204);
    let again =
        s.client.delete(s.url("/api/rooms/interview-kim")).bearer_auth(switchboard_tests::TOKEN).send().await.unwrap();
    expect_error(again, 404, "not_found").await;
    expect_error(s.get("/api/rooms/interview-kim/participants").send().await.unwrap(), 404, "not_found").await;
    let names: Vec<Value> =
        s.get_json("/api/rooms", 200).await.as_array().unwrap().iter().map(|r| r["name"].clone()).collect();
    assert_eq!(names, [json!(unnamed)]);

    // Bad input.
    for body in [
        json!({"room_name": "no spaces"}),
        json!({"room_name": ""}),
        json!({"max_participants": 5000}),
        json!({"room": "x"}),
    ] {
        expect_error(s.post("/api/rooms/create", &body).send().await.unwrap(), 422, "validation_failed").await;
    }
    expect_error(s.get("/api/rooms/bad%20name/participants").send().await.unwrap(), 422, "validation_failed").await;
    s.stop().await;
}

#[tokio::test]
async fn without_livekit_every_route_says_what_to_set() {
    let (_dir, s) = server_with(None).await;
    let token = json!({"room_name": "r", "participant_identity": "kim", "role": "viewer"});
    let responses = [
        s.get("/api/get-livekit-token").send().await.unwrap(),
        s.post("/api/tokens/generate", &token).send().await.unwrap(),
        s.post("/api/rooms/create", &json!({})).send().await.unwrap(),
        s.get("/api/rooms").send().await.unwrap(),
        s.get("/api/rooms/r/participants").send().await.unwrap(),
        s.client.delete(s.url("/api/rooms/r")).bearer_auth(switchboard_tests::TOKEN).send().await.unwrap(),
    ];
    for resp in responses {
        let e = expect_error(resp, 503, "unavailable").await;
        assert!(e["message"].as_str().unwrap().contains("LIVEKIT_URL"), "{e}");
    }
    // The rest of the app is unaffected.
    expect(s.get("/api/sessions").send().await.unwrap(), 200).await;
    s.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_or_a_stopped_server_is_a_clear_error_and_nothing_else_breaks() {
    let mut lk = LiveKitServer::start();
    let wrong = switchboard_livekit::LiveKitConfig {
        api_secret: Some("not-the-secret-of-this-server-0123456".into()),
        ..lk.config()
    };
    let (_d1, bad) = server_with(Some(wrong)).await;
    let e = expect_error(
        bad.post("/api/rooms/create", &json!({"room_name": "x"})).send().await.unwrap(),
        503,
        "unavailable",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("refused the API key or secret"), "{e}");
    assert!(!e.to_string().contains("not-the-secret"), "the secret is never echoed: {e}");
    expect_error(bad.get("/api/rooms").send().await.unwrap(), 503, "unavailable").await;
    bad.stop().await;

    let (_d2, s) = server_with(Some(lk.config())).await;
    s.post_json("/api/rooms/create", &json!({"room_name": "before"}), 201).await;
    lk.stop();
    let e = expect_error(s.get("/api/rooms").send().await.unwrap(), 503, "unavailable").await;
    assert!(e["message"].as_str().unwrap().contains("not reachable"), "{e}");
    // Tokens need no server: they are still minted.
    let token = json!({"room_name": "r", "participant_identity": "kim", "role": "viewer"});
    s.post_json("/api/tokens/generate", &token, 200).await;
    expect(s.get("/api/sessions").send().await.unwrap(), 200).await;
    s.stop().await;
}

/// The Python SDK's verifier (PyPI `livekit-api`, pinned, in the venv the
/// setup script makes) accepts our tokens with the same claims, and its
/// tokens verify here: both sides read the grants alike.
#[tokio::test]
async fn tokens_cross_verify_with_the_python_sdk() {
    let python = std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/switchboard/lk-venv/bin/python");
    assert!(python.is_file(), "{} is missing (run scripts/setup.sh test)", python.display());
    let lk = switchboard_livekit::LiveKit::new(switchboard_livekit::LiveKitConfig {
        url: Some("ws://127.0.0.1:7880".into()),
        api_key: Some(KEY.into()),
        api_secret: Some(SECRET.into()),
    })
    .unwrap();
    let ours = lk
        .token(
            "interview-9",
            "kim",
            Some("Kim Lee"),
            switchboard_livekit::ParticipantRole::Interviewer,
            std::time::Duration::from_secs(600),
        )
        .unwrap();
    let script = r#"
import datetime, json, sys
from livekit import api
key, secret, ours = sys.argv[1:4]
c = api.TokenVerifier(key, secret).verify(ours)
try:
    api.TokenVerifier(key, secret + "x").verify(ours)
    forged_ok = True
except Exception:
    forged_ok = False
theirs = (api.AccessToken(key, secret).with_identity("bob").with_name("Bob")
    .with_ttl(datetime.timedelta(minutes=10))
    .with_grants(api.VideoGrants(room_join=True, room="interview-9", can_publish=False, can_subscribe=True,
                                 can_publish_data=False)).to_jwt())
print(json.dumps({"identity": c.identity, "name": c.name, "room": c.video.room, "room_admin": c.video.room_admin,
    "can_publish": c.video.can_publish, "can_publish_data": c.video.can_publish_data,
    "forged_ok": forged_ok, "theirs": theirs}))
"#;
    let out =
        std::process::Command::new(&python).arg("-c").arg(script).args([KEY, SECRET, &ours.token]).output().unwrap();
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["identity"], &v["name"], &v["room"], &v["room_admin"], &v["can_publish"], &v["can_publish_data"]),
        (&json!("kim"), &json!("Kim Lee"), &json!("interview-9"), &json!(true), &json!(true), &json!(false))
    );
    assert_eq!(v["forged_ok"], false, "a wrong secret must not verify");
    let c = TokenVerifier::with_api_key(KEY, SECRET)
        .verify(v["theirs"].as_str().unwrap())
        .expect("Python's token verifies here");
    assert_eq!((c.sub.as_str(), c.video.room.as_str()), ("bob", "interview-9"));
    assert_eq!((c.video.can_publish, c.video.can_subscribe, c.video.room_admin), (Some(false), Some(true), false));
}

#[tokio::test]
async fn livekit_set_in_settings_applies_without_a_restart_and_its_secret_never_comes_back() {
    let lk = LiveKitServer::start();
    let (dir, s) = server_with(None).await;
    let view = s.get_json("/api/settings/livekit", 200).await;
    assert_eq!((view["configured"].as_bool(), view["from_environment"].as_bool()), (Some(false), Some(false)));
    expect_error(s.post("/api/rooms/create", &json!({})).send().await.unwrap(), 503, "unavailable").await;

    let body = json!({"url": lk.url(), "api_key": KEY, "api_secret": SECRET});
    let r = s.put("/api/settings/livekit", &body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(SECRET), "the secret is write-only: {text}");
    let view: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((view["configured"].as_bool(), view["api_secret_set"].as_bool()), (Some(true), Some(true)));
    // Applied at once: the next room call uses it.
    s.post_json("/api/rooms/create", &json!({"room_name": "from-settings"}), 201).await;

    // No secret sent for the same server: it stays.
    let v =
        expect(s.put("/api/settings/livekit", &json!({"url": lk.url(), "api_key": KEY})).send().await.unwrap(), 200)
            .await;
    assert_eq!(v["api_secret_set"], true, "{v}");
    // A new URL without a secret: the old secret does not follow it there,
    // and a configuration without one is refused; the one in force stays.
    let e = expect_error(
        s.put("/api/settings/livekit", &json!({"url": "wss://elsewhere.example", "api_key": KEY}))
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("secret"), "{e}");
    expect_error(
        s.put("/api/settings/livekit", &json!({"url": "ftp://x", "api_key": "k", "api_secret": "s"}))
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    expect_error(
        s.put("/api/settings/livekit", &json!({"url": lk.url(), "colour": 1})).send().await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    s.get_json("/api/rooms", 200).await;

    // Saved: a restart on the same data keeps it, and the audit log records
    // the change without the secret.
    s.stop().await;
    let mut c = config(dir.path());
    c.livekit = Default::default();
    let s = TestServer::start(c).await;
    assert_eq!(s.get_json("/api/settings/livekit", 200).await["configured"], true);
    s.get_json("/api/rooms", 200).await;
    s.stop().await;
    use sqlx::ConnectOptions;
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("switchboard.sqlite"))
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let details: Vec<String> =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE entity = 'settings' AND entity_id = 'livekit'")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert!(!details.is_empty());
    assert!(details.iter().all(|d| !d.contains(SECRET) && d.contains("url")), "{details:?}");
}
