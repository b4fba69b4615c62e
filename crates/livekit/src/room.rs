//! A connection to one room through the media library: who is there, their
//! audio as frames, and a track the agent speaks on.
//!
//! Invariants:
//! - Each subscribed remote audio track becomes one [`RemoteAudio`]: 48 kHz
//!   mono frames on a bounded channel; dropping it closes the stream.
//! - [`RoomUpdate`]s come in the room's order; the last is `Disconnected`.
//! - Dropping a [`Room`] leaves the room (the handle drop disconnects).

use std::collections::HashMap;
use std::time::Duration;

use switchboard_core::speech::AudioFrame;
use tokio::sync::mpsc;

use crate::LiveKitError;
use crate::ffi::{Ffi, OwnedHandle};
use crate::proto::{self, ffi_event, ffi_request, ffi_response, room_event};

/// The rate remote audio is asked for and the agent's track runs at.
pub const ROOM_RATE: u32 = 48_000;

/// What happens in the room.
#[derive(Debug)]
pub enum RoomUpdate {
    /// `metadata`: what the participant's token carried (our tokens: the role).
    Joined {
        identity: String,
        name: String,
        metadata: String,
    },
    Left {
        identity: String,
    },
    /// A participant's audio track, subscribed.
    Audio {
        identity: String,
        name: String,
        audio: RemoteAudio,
    },
    /// A track ended (unpublished or unsubscribed).
    TrackEnded {
        identity: String,
        track_sid: String,
    },
    /// The connection ended (server gone, removed, closed).
    Disconnected {
        reason: String,
    },
}

/// One remote audio track as frames. Dropping it closes the stream.
pub struct RemoteAudio {
    pub track_sid: String,
    pub frames: mpsc::Receiver<AudioFrame>,
    stream: OwnedHandle,
    _track: OwnedHandle,
    ffi: &'static Ffi,
}

impl std::fmt::Debug for RemoteAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteAudio({})", self.track_sid)
    }
}

impl Drop for RemoteAudio {
    fn drop(&mut self) {
        self.ffi.unroute_stream(self.stream.id);
    }
}

/// A participant as the room saw them at join.
#[derive(Debug, Clone)]
pub struct Present {
    pub identity: String,
    pub name: String,
    pub metadata: String,
}

pub struct Room {
    ffi: &'static Ffi,
    handle: OwnedHandle,
    local: OwnedHandle,
    pub name: String,
    pub sid: String,
    pub present: Vec<Present>,
    pump: tokio::task::JoinHandle<()>,
}

async fn wait(
    ffi: &'static Ffi,
    rx: tokio::sync::oneshot::Receiver<ffi_event::Message>,
    id: u64,
    what: &str,
    timeout: Duration,
) -> Result<ffi_event::Message, LiveKitError> {
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(_)) => Err(LiveKitError::Library(format!("the media library stopped while {what}"))),
        Err(_) => {
            ffi.forget(id);
            Err(LiveKitError::Media(format!("no answer within {timeout:?} while {what}")))
        }
    }
}

impl Room {
    /// Joins `url` with `token`; updates arrive on the returned channel.
    pub async fn connect(
        ffi: &'static Ffi,
        url: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<(Room, mpsc::UnboundedReceiver<RoomUpdate>), LiveKitError> {
        let id = ffi.next_async_id();
        let rx = ffi.expect(id);
        let req = ffi_request::Message::Connect(proto::ConnectRequest {
            url: url.to_string(),
            token: token.to_string(),
            options: proto::RoomOptions {
                auto_subscribe: Some(true),
                adaptive_stream: Some(false),
                dynacast: Some(false),
                connect_timeout_ms: Some(timeout.as_millis() as u64),
                join_retries: Some(0),
                ..Default::default()
            },
            request_async_id: Some(id),
        });
        if let Err(e) = ffi.request(req) {
            ffi.forget(id);
            return Err(e);
        }
        let ffi_event::Message::Connect(cb) = wait(ffi, rx, id, "joining the room", timeout * 2).await? else {
            return Err(LiveKitError::Library("a connect answer of the wrong kind".into()));
        };
        let result = match cb.message {
            Some(proto::connect_callback::Message::Result(r)) => r,
            Some(proto::connect_callback::Message::Error(e)) => return Err(LiveKitError::Media(e)),
            None => return Err(LiveKitError::Media("the connection failed without a reason".into())),
        };
        let handle = OwnedHandle::new(ffi, result.room.handle.id);
        let local = OwnedHandle::new(ffi, result.local_participant.handle.id);
        let mut names = HashMap::new();
        let mut present = Vec::new();
        for p in &result.participants {
            // The participant handles are not kept: identities are enough.
            ffi.drop_handle(p.participant.handle.id);
            for publication in &p.publications {
                ffi.drop_handle(publication.handle.id);
            }
            names.insert(p.participant.info.identity.clone(), p.participant.info.name.clone());
            present.push(Present {
                identity: p.participant.info.identity.clone(),
                name: p.participant.info.name.clone(),
                metadata: p.participant.info.metadata.clone(),
            });
        }
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        ffi.route_room(handle.id, raw_tx);
        let (tx, updates) = mpsc::unbounded_channel();
        let pump = tokio::spawn(pump(ffi, raw_rx, tx, names));
        // Events flow only after this.
        ffi.request(ffi_request::Message::ReadyForRoomEvent(proto::ReadyForRoomEventRequest {
            room_handle: handle.id,
        }))?;
        let room = Room {
            ffi,
            name: result.room.info.name.clone(),
            sid: result.room.info.sid.clone().unwrap_or_default(),
            handle,
            local,
            present,
            pump,
        };
        Ok((room, updates))
    }

    /// Publishes a microphone track the agent speaks on, at `rate`.
    pub async fn publish_audio(&self, track_name: &str, rate: u32) -> Result<AudioOut, LiveKitError> {
        let ffi = self.ffi;
        let source = match ffi.request(ffi_request::Message::NewAudioSource(proto::NewAudioSourceRequest {
            r#type: proto::AudioSourceType::AudioSourceNative as i32,
            options: Some(proto::AudioSourceOptions {
                echo_cancellation: false,
                noise_suppression: false,
                auto_gain_control: false,
                prefer_hardware: None,
            }),
            sample_rate: Some(rate),
            num_channels: Some(1),
            queue_size_ms: Some(1000),
            platform_audio_handle: None,
        }))? {
            ffi_response::Message::NewAudioSource(r) => OwnedHandle::new(ffi, r.source.handle.id),
            _ => return Err(LiveKitError::Library("a source answer of the wrong kind".into())),
        };
        let track = match ffi.request(ffi_request::Message::CreateAudioTrack(proto::CreateAudioTrackRequest {
            name: track_name.to_string(),
            source_handle: source.id,
        }))? {
            ffi_response::Message::CreateAudioTrack(r) => OwnedHandle::new(ffi, r.track.handle.id),
            _ => return Err(LiveKitError::Library("a track answer of the wrong kind".into())),
        };
        let id = ffi.next_async_id();
        let rx = ffi.expect(id);
        let req = ffi_request::Message::PublishTrack(proto::PublishTrackRequest {
            local_participant_handle: self.local.id,
            track_handle: track.id,
            options: proto::TrackPublishOptions {
                source: Some(proto::TrackSource::SourceMicrophone as i32),
                dtx: Some(false),
                red: Some(true),
                ..Default::default()
            },
            request_async_id: Some(id),
        });
        if let Err(e) = ffi.request(req) {
            ffi.forget(id);
            return Err(e);
        }
        match wait(ffi, rx, id, "publishing the agent's track", Duration::from_secs(10)).await? {
            ffi_event::Message::PublishTrack(cb) => match cb.message {
                Some(proto::publish_track_callback::Message::Publication(p)) => {
                    ffi.drop_handle(p.handle.id);
                }
                Some(proto::publish_track_callback::Message::Error(e)) => return Err(LiveKitError::Media(e)),
                None => return Err(LiveKitError::Media("publishing failed without a reason".into())),
            },
            _ => return Err(LiveKitError::Library("a publish answer of the wrong kind".into())),
        }
        Ok(AudioOut { ffi, source, _track: track, rate })
    }

    /// Leaves the room (waits a moment for the server to hear it).
    pub async fn disconnect(self) {
        let id = self.ffi.next_async_id();
        let rx = self.ffi.expect(id);
        let req = ffi_request::Message::Disconnect(proto::DisconnectRequest {
            room_handle: self.handle.id,
            request_async_id: Some(id),
            reason: Some(proto::DisconnectReason::ClientInitiated as i32),
        });
        if self.ffi.request(req).is_ok() {
            let _ = wait(self.ffi, rx, id, "leaving the room", Duration::from_secs(5)).await;
        } else {
            self.ffi.forget(id);
        }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.ffi.unroute_room(self.handle.id);
        self.pump.abort();
    }
}

/// The agent's voice in the room.
pub struct AudioOut {
    ffi: &'static Ffi,
    source: OwnedHandle,
    _track: OwnedHandle,
    pub rate: u32,
}

impl AudioOut {
    /// Queues audio (any length; sent in 10 ms frames). Returns when the
    /// library has taken it, which paces a caller that sends ahead.
    pub async fn capture(&self, samples: &[f32]) -> Result<(), LiveKitError> {
        let per = (self.rate / 100) as usize;
        for chunk in samples.chunks(per) {
            let pcm: Vec<i16> = chunk.iter().map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16).collect();
            let id = self.ffi.next_async_id();
            let rx = self.ffi.expect(id);
            let req = ffi_request::Message::CaptureAudioFrame(proto::CaptureAudioFrameRequest {
                source_handle: self.source.id,
                buffer: proto::AudioFrameBufferInfo {
                    data_ptr: pcm.as_ptr() as u64,
                    num_channels: 1,
                    sample_rate: self.rate,
                    samples_per_channel: pcm.len() as u32,
                },
                request_async_id: Some(id),
            });
            if let Err(e) = self.ffi.request(req) {
                self.ffi.forget(id);
                return Err(e);
            }
            // `pcm` must live until the library says it copied it.
            let answer = wait(self.ffi, rx, id, "sending the agent's audio", Duration::from_secs(5)).await;
            drop(pcm);
            match answer? {
                ffi_event::Message::CaptureAudioFrame(cb) => {
                    if let Some(e) = cb.error {
                        return Err(LiveKitError::Media(e));
                    }
                }
                _ => return Err(LiveKitError::Library("a capture answer of the wrong kind".into())),
            }
        }
        Ok(())
    }

    /// Drops queued audio (barge-in).
    pub fn clear(&self) {
        let req =
            ffi_request::Message::ClearAudioBuffer(proto::ClearAudioBufferRequest { source_handle: self.source.id });
        if let Err(e) = self.ffi.request(req) {
            tracing::warn!(error = %e, "could not clear the agent's queued audio");
        }
    }
}

/// Turns the library's room events into [`RoomUpdate`]s.
async fn pump(
    ffi: &'static Ffi,
    mut raw: mpsc::UnboundedReceiver<room_event::Message>,
    tx: mpsc::UnboundedSender<RoomUpdate>,
    mut names: HashMap<String, String>,
) {
    while let Some(ev) = raw.recv().await {
        let update = match ev {
            room_event::Message::ParticipantConnected(p) => {
                ffi.drop_handle(p.info.handle.id);
                let info = p.info.info;
                names.insert(info.identity.clone(), info.name.clone());
                RoomUpdate::Joined { identity: info.identity, name: info.name, metadata: info.metadata }
            }
            room_event::Message::ParticipantDisconnected(p) => {
                names.remove(&p.participant_identity);
                RoomUpdate::Left { identity: p.participant_identity }
            }
            room_event::Message::TrackSubscribed(t) => {
                let track = OwnedHandle::new(ffi, t.track.handle.id);
                if t.track.info.kind != proto::TrackKind::KindAudio as i32 {
                    continue;
                }
                match open_stream(ffi, track, t.track.info.sid.clone()) {
                    Ok(audio) => {
                        let name = names.get(&t.participant_identity).cloned().unwrap_or_default();
                        RoomUpdate::Audio { identity: t.participant_identity, name, audio }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, identity = %t.participant_identity, "could not open an audio track");
                        continue;
                    }
                }
            }
            room_event::Message::TrackUnsubscribed(t) => {
                RoomUpdate::TrackEnded { identity: t.participant_identity, track_sid: t.track_sid }
            }
            room_event::Message::Disconnected(d) => {
                let reason = proto::DisconnectReason::try_from(d.reason)
                    .map(|r| r.as_str_name().to_string())
                    .unwrap_or_else(|_| format!("reason {}", d.reason));
                let _ = tx.send(RoomUpdate::Disconnected { reason });
                return;
            }
            room_event::Message::Eos(_) => {
                let _ = tx.send(RoomUpdate::Disconnected { reason: "the room closed".into() });
                return;
            }
            _ => continue,
        };
        if tx.send(update).is_err() {
            return;
        }
    }
    let _ = tx.send(RoomUpdate::Disconnected { reason: "the media library stopped".into() });
}

fn open_stream(ffi: &'static Ffi, track: OwnedHandle, track_sid: String) -> Result<RemoteAudio, LiveKitError> {
    let res = ffi.request(ffi_request::Message::NewAudioStream(proto::NewAudioStreamRequest {
        track_handle: track.id,
        r#type: proto::AudioStreamType::AudioStreamNative as i32,
        sample_rate: Some(ROOM_RATE),
        num_channels: Some(1),
        audio_filter_module_id: None,
        audio_filter_options: None,
        frame_size_ms: Some(20),
        queue_size_frames: None,
    }))?;
    let ffi_response::Message::NewAudioStream(r) = res else {
        return Err(LiveKitError::Library("a stream answer of the wrong kind".into()));
    };
    let stream = OwnedHandle::new(ffi, r.stream.handle.id);
    // Two seconds of 20 ms frames: a consumer further behind than that
    // loses frames rather than stalling the library's thread.
    let (tx, frames) = mpsc::channel(100);
    ffi.route_stream(stream.id, tx);
    Ok(RemoteAudio { track_sid, frames, stream, _track: track, ffi })
}
