//! LiveKit, as Switchboard uses it: where the server is and the key pair
//! that signs for it ([`LiveKitConfig`], changeable while the app runs),
//! access tokens whose grants follow the participant's [`ParticipantRole`], and rooms
//! through the server's RoomService API ([`LiveKit`]).
//!
//! Invariants: the API secret never leaves this crate (no getter, redacted
//! in `Debug`, never in an error); every room name and identity is checked
//! here before the server sees it (the server accepts an empty name); with
//! no configuration every call is [`LiveKitError::NotConfigured`], which
//! says what to set.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use livekit_api::access_token::{AccessToken, VideoGrants};
use livekit_api::services::room::{CreateRoomOptions, RoomClient};
use livekit_api::services::{ServerError, ServiceError};
use serde::{Deserialize, Serialize};
use switchboard_core::{Coded, ErrorCode};
use utoipa::ToSchema;

/// How long a token minted here lets its holder join. Short: a link handed
/// to a candidate is for this interview, not for later.
pub const TOKEN_TTL: Duration = Duration::from_secs(2 * 60 * 60);
/// A viewer link lives as long; the widget's token is for one call.
pub const WIDGET_TTL: Duration = Duration::from_secs(15 * 60);
/// A RoomService call that takes longer than this is a server in trouble.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_NAME: usize = 128;

/// Where the LiveKit server is and the key pair to sign for it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LiveKitConfig {
    /// `ws://` or `wss://` (what clients connect to); `http(s)://` works too.
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub api_secret: Option<String>,
}

impl std::fmt::Debug for LiveKitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKitConfig")
            .field("url", &self.url)
            .field("api_key", &self.api_key)
            .field("api_secret", &self.api_secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl LiveKitConfig {
    /// `LIVEKIT_URL`, `LIVEKIT_API_KEY`, `LIVEKIT_API_SECRET`; blank counts
    /// as unset.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Self { url: var("LIVEKIT_URL"), api_key: var("LIVEKIT_API_KEY"), api_secret: var("LIVEKIT_API_SECRET") }
    }

    /// Fills what `self` lacks from `other` (the environment wins over the
    /// config file, say).
    pub fn or(self, other: LiveKitConfig) -> Self {
        Self {
            url: self.url.or(other.url),
            api_key: self.api_key.or(other.api_key),
            api_secret: self.api_secret.or(other.api_secret),
        }
    }

    /// Checks the URL's form; a partial configuration is an error too
    /// (a URL without a secret would fail at the first call instead).
    pub fn validate(&self) -> Result<(), LiveKitError> {
        if self.url.is_none() && self.api_key.is_none() && self.api_secret.is_none() {
            return Ok(());
        }
        let (Some(url), Some(_), Some(_)) = (&self.url, &self.api_key, &self.api_secret) else {
            return Err(LiveKitError::Invalid(
                "LiveKit needs all three of its URL, API key and API secret (LIVEKIT_URL, LIVEKIT_API_KEY, \
                 LIVEKIT_API_SECRET)"
                    .into(),
            ));
        };
        let scheme_ok = ["ws://", "wss://", "http://", "https://"].iter().any(|s| url.starts_with(s));
        if !scheme_ok || url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(LiveKitError::Invalid(format!(
                "the LiveKit URL must start with ws://, wss://, http:// or https://, not `{}`",
                url.chars().take(80).collect::<String>()
            )));
        }
        Ok(())
    }

    pub fn is_configured(&self) -> bool {
        self.url.is_some() && self.api_key.is_some() && self.api_secret.is_some()
    }
}

/// Who a participant is in a room; the token's grants follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantRole {
    /// Runs the interview: publishes, listens, may remove participants.
    Interviewer,
    Candidate,
    /// Switchboard's own agent: also sends data messages (transcripts).
    Agent,
    /// A caller or any other talking participant.
    Participant,
    /// Watches and listens only.
    Viewer,
}

impl ParticipantRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantRole::Interviewer => "interviewer",
            ParticipantRole::Candidate => "candidate",
            ParticipantRole::Agent => "agent",
            ParticipantRole::Participant => "participant",
            ParticipantRole::Viewer => "viewer",
        }
    }

    /// The grants of a token for `room`.
    pub fn grants(self, room: &str) -> VideoGrants {
        let talks = self != ParticipantRole::Viewer;
        VideoGrants {
            room_join: true,
            room: room.to_string(),
            can_publish: Some(talks),
            can_subscribe: Some(true),
            can_publish_data: Some(self == ParticipantRole::Agent),
            // Removing a participant is a RoomService call, which needs
            // admin rights over the room.
            room_admin: self == ParticipantRole::Interviewer,
            ..Default::default()
        }
    }
}

impl std::str::FromStr for ParticipantRole {
    type Err = LiveKitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "interviewer" => ParticipantRole::Interviewer,
            "candidate" => ParticipantRole::Candidate,
            "agent" => ParticipantRole::Agent,
            "participant" => ParticipantRole::Participant,
            "viewer" => ParticipantRole::Viewer,
            other => {
                return Err(LiveKitError::Invalid(format!(
                    "unknown role `{}`; one of interviewer, candidate, agent, participant, viewer",
                    other.chars().take(40).collect::<String>()
                )));
            }
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LiveKitError {
    #[error(
        "LiveKit is not configured: set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET (or the LiveKit \
         settings)"
    )]
    NotConfigured,
    #[error("{0}")]
    Invalid(String),
    #[error("room `{0}` does not exist")]
    NoSuchRoom(String),
    #[error("no speaker `{0}` in this room's transcript")]
    NoSuchSpeaker(String),
    /// The server refused this app's key or secret.
    #[error("the LiveKit server refused the API key or secret")]
    Refused,
    /// The server could not be reached or failed; the detail is for the log.
    #[error("the LiveKit server is unavailable: {0}")]
    Unavailable(String),
    #[error("could not make a LiveKit token: {0}")]
    Token(String),
    /// The media library is missing, of another version, or failed.
    #[error("{0}")]
    Library(String),
    /// Joining or talking in a room failed (the detail is for the log).
    #[error("the room connection failed: {0}")]
    Media(String),
    /// The agent is already in (or not in) that room.
    #[error("{0}")]
    AgentState(String),
}

impl Coded for LiveKitError {
    fn code(&self) -> ErrorCode {
        match self {
            LiveKitError::NotConfigured | LiveKitError::Refused | LiveKitError::Unavailable(_) => {
                ErrorCode::Unavailable
            }
            LiveKitError::Invalid(_) => ErrorCode::ValidationFailed,
            LiveKitError::NoSuchRoom(_) | LiveKitError::NoSuchSpeaker(_) => ErrorCode::NotFound,
            LiveKitError::Token(_) => ErrorCode::Internal,
            LiveKitError::Library(_) | LiveKitError::Media(_) => ErrorCode::Unavailable,
            LiveKitError::AgentState(_) => ErrorCode::Conflict,
        }
    }

    /// What to fix is the user's to know even for `unavailable` errors; the
    /// server's own text stays in the log.
    fn public_message(&self) -> String {
        match self {
            LiveKitError::Unavailable(_) => "the LiveKit server is not reachable; is it running?".into(),
            LiveKitError::Token(_) => "could not make a LiveKit token; see the server log".into(),
            // Says what file to install; no server text in it.
            LiveKitError::Library(m) => m.clone(),
            LiveKitError::Media(_) => "the agent could not join or stay in the room; see the server log".into(),
            other => other.to_string(),
        }
    }
}

/// Room and identity names: 1 to 128 letters, digits, `-`, `_` or `.`, so
/// they are safe in URLs and file names (exports) without escaping.
pub fn validate_name(what: &str, name: &str) -> Result<(), LiveKitError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else if name.is_empty() {
        Err(LiveKitError::Invalid(format!("{what} must not be empty")))
    } else {
        Err(LiveKitError::Invalid(format!("{what} must be 1 to {MAX_NAME} letters, digits, '-', '_' or '.'")))
    }
}

/// A display name: free text, but short and without control characters.
fn validate_display(name: &str) -> Result<(), LiveKitError> {
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(LiveKitError::Invalid(
            "participant_name must be at most 200 characters, no control characters".into(),
        ));
    }
    Ok(())
}

/// A minted token and where to use it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Grant {
    pub token: String,
    pub room_name: String,
    pub participant_identity: String,
    pub role: ParticipantRole,
    /// The server URL clients connect to.
    pub url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Room {
    pub sid: String,
    pub name: String,
    pub max_participants: u32,
    /// Unix seconds.
    pub creation_time: i64,
    pub num_participants: u32,
}

/// A room just made, with a token for each seat.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedRoom {
    #[serde(flatten)]
    pub room: Room,
    pub interviewer_token: String,
    pub candidate_token: String,
    pub agent_token: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Participant {
    pub sid: String,
    pub identity: String,
    pub name: String,
    /// `joining`, `joined`, `active` or `disconnected`.
    pub state: String,
    /// Unix seconds.
    pub joined_at: i64,
    pub tracks: u32,
}

/// LiveKit for the app: cheap to clone; the configuration can change while
/// it runs (the settings screen) and the next call uses the new one.
#[derive(Clone, Default)]
pub struct LiveKit {
    config: Arc<RwLock<LiveKitConfig>>,
    /// The environment (`LIVEKIT_*`) configured it: the settings screen
    /// shows it but cannot change it.
    from_environment: Arc<std::sync::atomic::AtomicBool>,
}

impl LiveKit {
    pub fn new(config: LiveKitConfig) -> Result<Self, LiveKitError> {
        config.validate()?;
        Ok(Self { config: Arc::new(RwLock::new(config)), from_environment: Default::default() })
    }

    pub fn set_from_environment(&self, yes: bool) {
        self.from_environment.store(yes, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn from_environment(&self) -> bool {
        self.from_environment.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The configuration in force, secret included (for saving it).
    pub fn config(&self) -> LiveKitConfig {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_config(&self, config: LiveKitConfig) -> Result<(), LiveKitError> {
        config.validate()?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    /// The URL and key (never the secret), for the settings screen.
    pub fn public_view(&self) -> (Option<String>, Option<String>, bool) {
        let c = self.config.read().unwrap_or_else(|p| p.into_inner());
        (c.url.clone(), c.api_key.clone(), c.api_secret.is_some())
    }

    pub fn is_configured(&self) -> bool {
        self.config.read().unwrap_or_else(|p| p.into_inner()).is_configured()
    }

    /// (url, key, secret) or `NotConfigured`.
    fn parts(&self) -> Result<(String, String, String), LiveKitError> {
        let c = self.config.read().unwrap_or_else(|p| p.into_inner());
        match (&c.url, &c.api_key, &c.api_secret) {
            (Some(u), Some(k), Some(s)) => Ok((u.clone(), k.clone(), s.clone())),
            _ => Err(LiveKitError::NotConfigured),
        }
    }

    /// A token for `identity` to join `room` as `role`.
    pub fn token(
        &self,
        room: &str,
        identity: &str,
        name: Option<&str>,
        role: ParticipantRole,
        ttl: Duration,
    ) -> Result<Grant, LiveKitError> {
        validate_name("room_name", room)?;
        validate_name("participant_identity", identity)?;
        if let Some(n) = name {
            validate_display(n)?;
        }
        let (url, key, secret) = self.parts()?;
        let token = AccessToken::with_api_key(&key, &secret)
            .with_identity(identity)
            .with_name(name.unwrap_or(identity))
            .with_ttl(ttl)
            .with_metadata(&format!("{{\"role\":\"{}\"}}", role.as_str()))
            .with_grants(role.grants(room))
            .to_jwt()
            .map_err(|e| LiveKitError::Token(e.to_string()))?;
        Ok(Grant { token, room_name: room.to_string(), participant_identity: identity.to_string(), role, url })
    }

    fn client(&self) -> Result<RoomClient, LiveKitError> {
        let (url, key, secret) = self.parts()?;
        Ok(RoomClient::with_api_key(&url, &key, &secret).with_request_timeout(REQUEST_TIMEOUT))
    }

    /// Creates `name` (or a fresh `room-…` name) for at most `max_participants`
    /// (0: the server's limit), with a token for each seat.
    pub async fn create_room(&self, name: Option<&str>, max_participants: u32) -> Result<CreatedRoom, LiveKitError> {
        let name = match name {
            Some(n) => n.to_string(),
            None => format!("room-{}", uuid::Uuid::now_v7().simple()),
        };
        validate_name("room_name", &name)?;
        if max_participants > 1000 {
            return Err(LiveKitError::Invalid("max_participants must be at most 1000".into()));
        }
        let client = self.client()?;
        // An empty room closes after a while, so abandoned interviews do not
        // pile up on the server.
        let options = CreateRoomOptions { max_participants, empty_timeout: 10 * 60, ..Default::default() };
        let r = client.create_room(&name, options).await.map_err(|e| service_error(e, None))?;
        let seat =
            |identity: &str, role: ParticipantRole| self.token(&name, identity, None, role, TOKEN_TTL).map(|g| g.token);
        Ok(CreatedRoom {
            interviewer_token: seat("interviewer", ParticipantRole::Interviewer)?,
            candidate_token: seat("candidate", ParticipantRole::Candidate)?,
            agent_token: seat("switchboard-agent", ParticipantRole::Agent)?,
            url: self.parts()?.0,
            room: room_of(r),
        })
    }

    pub async fn rooms(&self) -> Result<Vec<Room>, LiveKitError> {
        let rooms = self.client()?.list_rooms(vec![]).await.map_err(|e| service_error(e, None))?;
        Ok(rooms.into_iter().map(room_of).collect())
    }

    /// The participants of an existing room.
    pub async fn participants(&self, room: &str) -> Result<Vec<Participant>, LiveKitError> {
        validate_name("room_name", room)?;
        let client = self.client()?;
        // The server lists no participants for a room that does not exist,
        // rather than failing: ask for the room itself first.
        let found = client.list_rooms(vec![room.to_string()]).await.map_err(|e| service_error(e, Some(room)))?;
        if found.is_empty() {
            return Err(LiveKitError::NoSuchRoom(room.to_string()));
        }
        let list = client.list_participants(room).await.map_err(|e| service_error(e, Some(room)))?;
        Ok(list
            .into_iter()
            .map(|p| Participant {
                state: match p.state {
                    0 => "joining",
                    1 => "joined",
                    2 => "active",
                    _ => "disconnected",
                }
                .to_string(),
                sid: p.sid,
                identity: p.identity,
                name: p.name,
                joined_at: p.joined_at,
                tracks: p.tracks.len() as u32,
            })
            .collect())
    }

    pub async fn delete_room(&self, room: &str) -> Result<(), LiveKitError> {
        validate_name("room_name", room)?;
        self.client()?.delete_room(room).await.map_err(|e| service_error(e, Some(room)))
    }
}

fn room_of(r: livekit_protocol::Room) -> Room {
    Room {
        sid: r.sid,
        name: r.name,
        max_participants: r.max_participants,
        creation_time: r.creation_time,
        num_participants: r.num_participants,
    }
}

/// Sorts the RoomService's failures into what a user can act on.
/// `room`: the room the call was about, which a `not_found` names.
fn service_error(e: ServiceError, room: Option<&str>) -> LiveKitError {
    match e {
        ServiceError::Twirp(ServerError::Twirp(t)) => match t.code.as_str() {
            "unauthenticated" | "permission_denied" => LiveKitError::Refused,
            "not_found" => match room {
                Some(r) => LiveKitError::NoSuchRoom(r.to_string()),
                None => LiveKitError::Unavailable(format!("not_found: {}", t.msg)),
            },
            "invalid_argument" => LiveKitError::Invalid(format!("the LiveKit server refused the request: {}", t.msg)),
            _ => LiveKitError::Unavailable(format!("{}: {}", t.code, t.msg)),
        },
        // A wrong key or secret is answered with a plain-text 401, which
        // the client fails to decode as a Twirp error.
        ServiceError::Twirp(ServerError::Request(r)) if r.is_decode() => LiveKitError::Refused,
        other => LiveKitError::Unavailable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use livekit_api::access_token::TokenVerifier;

    fn lk() -> LiveKit {
        LiveKit::new(LiveKitConfig {
            url: Some("ws://127.0.0.1:7880".into()),
            api_key: Some("key".into()),
            api_secret: Some("a-secret-of-thirty-two-characters".into()),
        })
        .unwrap()
    }

    #[test]
    fn each_role_gets_its_grants_and_nothing_more() {
        let lk = lk();
        let verifier = TokenVerifier::with_api_key("key", "a-secret-of-thirty-two-characters");
        let grants = |role: ParticipantRole| {
            let g = lk.token("interview-1", "kim", Some("Kim"), role, TOKEN_TTL).unwrap();
            let c = verifier.verify(&g.token).unwrap();
            assert_eq!((c.sub.as_str(), c.name.as_str(), c.video.room.as_str()), ("kim", "Kim", "interview-1"));
            let v = c.video;
            (v.can_publish, v.can_subscribe, v.can_publish_data, v.room_admin, v.room_join, v.room_create)
        };
        let t = Some(true);
        let f = Some(false);
        assert_eq!(grants(ParticipantRole::Interviewer), (t, t, f, true, true, false));
        assert_eq!(grants(ParticipantRole::Candidate), (t, t, f, false, true, false));
        assert_eq!(grants(ParticipantRole::Agent), (t, t, t, false, true, false));
        assert_eq!(grants(ParticipantRole::Participant), (t, t, f, false, true, false));
        assert_eq!(grants(ParticipantRole::Viewer), (f, t, f, false, true, false));
    }

    #[test]
    fn a_token_signed_with_another_secret_does_not_verify() {
        let g = lk().token("r", "kim", None, ParticipantRole::Viewer, TOKEN_TTL).unwrap();
        assert!(TokenVerifier::with_api_key("key", "another-secret-of-32-characters!!").verify(&g.token).is_err());
    }

    #[test]
    fn names_roles_and_configurations_are_checked() {
        for bad in ["", "has space", "a/b", "ünï", &"x".repeat(129)] {
            assert!(matches!(validate_name("room_name", bad), Err(LiveKitError::Invalid(_))), "{bad:?}");
        }
        validate_name("room_name", "interview_2026-12-07.kim").unwrap();
        assert!("admin".parse::<ParticipantRole>().is_err());
        assert_eq!("viewer".parse::<ParticipantRole>().unwrap(), ParticipantRole::Viewer);
        let partial = LiveKitConfig { url: Some("ws://x".into()), ..Default::default() };
        assert!(matches!(partial.validate(), Err(LiveKitError::Invalid(_))));
        let bad_url =
            LiveKitConfig { url: Some("ftp://x".into()), api_key: Some("k".into()), api_secret: Some("s".into()) };
        assert!(matches!(bad_url.validate(), Err(LiveKitError::Invalid(_))));
        let none = LiveKit::default();
        let e = none.token("r", "kim", None, ParticipantRole::Viewer, TOKEN_TTL).unwrap_err();
        assert!(matches!(e, LiveKitError::NotConfigured));
        assert!(e.public_message().contains("LIVEKIT_API_SECRET"));
    }

    #[test]
    fn the_secret_is_never_printed() {
        let c = LiveKitConfig { api_secret: Some("hunter2-hunter2".into()), ..Default::default() };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}

pub mod agent;
pub mod ffi;
pub mod room;

pub mod proto {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/livekit.proto.rs"));
}
