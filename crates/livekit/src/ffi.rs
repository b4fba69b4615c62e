//! The LiveKit FFI library: loading it, requests, and routing its events.
//!
//! `liblivekit_ffi.so` (from PyPI's `livekit` wheel, [`FFI_VERSION`]) is the
//! LiveKit Rust SDK with WebRTC inside, behind a C ABI that takes protobuf
//! requests and answers synchronously, while asynchronous results and room
//! events arrive on one callback thread. The library is process-global (it is
//! initialised once with one callback), so [`Ffi`] is too.
//!
//! Invariants:
//! - The file is checked against [`FFI_SHA256`] before it is loaded: a
//!   different build could decode our messages differently.
//! - The callback never blocks: it copies what it needs and hands it to a
//!   channel (`try_send`; a full audio queue drops a frame and says so).
//! - Every handle the library gives us is dropped exactly once
//!   ([`OwnedHandle`]).
//! - Asynchronous requests carry their own `request_async_id`, registered
//!   before the request is made, so a callback can never arrive before its
//!   waiter exists.

use std::collections::HashMap;
use std::ffi::{CString, c_char};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use prost::Message as _;
use switchboard_core::speech::AudioFrame;
use tokio::sync::{mpsc, oneshot};

use crate::LiveKitError;
use crate::proto::{self, ffi_event, ffi_request, ffi_response};

/// The wheel the library comes from (`switchboard models install livekit-ffi` installs it).
pub const FFI_VERSION: &str = "1.2.1";
/// SHA-256 of `liblivekit_ffi.so` in that wheel.
pub const FFI_SHA256: &str = "b0e3b91dcf42b486045b6acca4863b132e3c4d114d5701b5759c7661c04ea1eb";

type Callback = extern "C" fn(data: *const u8, len: usize);
type InitializeFn = unsafe extern "C" fn(Callback, bool, *const c_char, *const c_char);
type RequestFn = unsafe extern "C" fn(*const u8, usize, *mut *const u8, *mut usize) -> u64;
type DropHandleFn = unsafe extern "C" fn(u64) -> bool;

/// Who receives which events.
#[derive(Default)]
struct Routes {
    waiters: HashMap<u64, oneshot::Sender<ffi_event::Message>>,
    rooms: HashMap<u64, mpsc::UnboundedSender<proto::room_event::Message>>,
    streams: HashMap<u64, mpsc::Sender<AudioFrame>>,
}

/// The loaded library.
pub struct Ffi {
    _lib: libloading::Library,
    request_fn: RequestFn,
    drop_handle_fn: DropHandleFn,
    path: PathBuf,
    next_async_id: AtomicU64,
    /// Set when the library reported a panic: it cannot be used again.
    broken: AtomicBool,
}

static FFI: OnceLock<Ffi> = OnceLock::new();
static LOAD: Mutex<()> = Mutex::new(());
static ROUTES: OnceLock<Mutex<Routes>> = OnceLock::new();
static DROPPED_FRAMES: AtomicU64 = AtomicU64::new(0);

fn routes() -> std::sync::MutexGuard<'static, Routes> {
    ROUTES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

impl Ffi {
    /// Loads (once per process) and initialises the library at `path`. Slow
    /// (hashing and loading 28 MB): call it from a blocking thread.
    pub fn load(path: &Path) -> Result<&'static Ffi, LiveKitError> {
        let _guard = LOAD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ffi) = FFI.get() {
            if ffi.path != path {
                return Err(LiveKitError::Library(format!(
                    "the LiveKit media library is already loaded from {}; restart to use {}",
                    ffi.path.display(),
                    path.display()
                )));
            }
            return ffi.usable();
        }
        let missing = || {
            LiveKitError::Library(format!(
                "the LiveKit media library is missing at {} (install it with `switchboard models install \
                 livekit-ffi`, or set [livekit] ffi_library)",
                path.display()
            ))
        };
        if !path.is_file() {
            return Err(missing());
        }
        let sha = file_sha256(path).map_err(|_| missing())?;
        if sha != FFI_SHA256 {
            return Err(LiveKitError::Library(format!(
                "{} is not the LiveKit media library {FFI_VERSION} this build speaks to (SHA-256 {sha}); \
                 reinstall it with `switchboard models install livekit-ffi`",
                path.display()
            )));
        }
        // SAFETY: the file is the exact build checked above; its C ABI is the
        // one declared by the type aliases (livekit_ffi.h of that version).
        let ffi = unsafe {
            let lib = libloading::Library::new(path)
                .map_err(|e| LiveKitError::Library(format!("could not load {}: {e}", path.display())))?;
            let sym = |name: &[u8]| {
                LiveKitError::Library(format!(
                    "{} lacks {}",
                    path.display(),
                    String::from_utf8_lossy(&name[..name.len() - 1])
                ))
            };
            let init: InitializeFn =
                *lib.get::<InitializeFn>(b"livekit_ffi_initialize\0").map_err(|_| sym(b"livekit_ffi_initialize\0"))?;
            let request_fn: RequestFn =
                *lib.get::<RequestFn>(b"livekit_ffi_request\0").map_err(|_| sym(b"livekit_ffi_request\0"))?;
            let drop_handle_fn: DropHandleFn = *lib
                .get::<DropHandleFn>(b"livekit_ffi_drop_handle\0")
                .map_err(|_| sym(b"livekit_ffi_drop_handle\0"))?;
            // The server knows SDKs by name; this is the Rust SDK behind a C ABI.
            let sdk = CString::new("rust").expect("no NUL");
            let version = CString::new(env!("CARGO_PKG_VERSION")).expect("no NUL");
            // Logs come to the callback (and on to tracing), not to stdout.
            init(on_event, true, sdk.as_ptr(), version.as_ptr());
            Ffi {
                _lib: lib,
                request_fn,
                drop_handle_fn,
                path: path.to_path_buf(),
                next_async_id: AtomicU64::new(1),
                broken: AtomicBool::new(false),
            }
        };
        tracing::info!(path = %path.display(), version = FFI_VERSION, "LiveKit media library loaded");
        let _ = FFI.set(ffi);
        FFI.get().expect("just set").usable()
    }

    fn usable(&'static self) -> Result<&'static Ffi, LiveKitError> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(LiveKitError::Library("the LiveKit media library failed earlier; restart the app".into()));
        }
        Ok(self)
    }

    /// Frames dropped because a consumer fell behind (since start).
    pub fn dropped_frames() -> u64 {
        DROPPED_FRAMES.load(Ordering::Relaxed)
    }

    pub fn next_async_id(&self) -> u64 {
        self.next_async_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A synchronous request.
    pub fn request(&self, msg: ffi_request::Message) -> Result<ffi_response::Message, LiveKitError> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(LiveKitError::Library("the LiveKit media library failed earlier; restart the app".into()));
        }
        let buf = proto::FfiRequest { message: Some(msg) }.encode_to_vec();
        let mut res_ptr: *const u8 = std::ptr::null();
        let mut res_len: usize = 0;
        // SAFETY: buf outlives the call; the library writes a pointer to its
        // own response buffer, valid until that handle is dropped.
        let handle = unsafe { (self.request_fn)(buf.as_ptr(), buf.len(), &mut res_ptr, &mut res_len) };
        if handle == 0 || res_ptr.is_null() {
            return Err(LiveKitError::Library("the LiveKit media library refused a request".into()));
        }
        // SAFETY: as above; copied before the handle is dropped.
        let bytes = unsafe { std::slice::from_raw_parts(res_ptr, res_len) }.to_vec();
        self.drop_handle(handle);
        let res = proto::FfiResponse::decode(bytes.as_slice())
            .map_err(|e| LiveKitError::Library(format!("undecodable response from the media library: {e}")))?;
        res.message.ok_or_else(|| LiveKitError::Library("an empty response from the media library".into()))
    }

    /// Registers a waiter for `async_id`; make the request after this.
    pub fn expect(&self, async_id: u64) -> oneshot::Receiver<ffi_event::Message> {
        let (tx, rx) = oneshot::channel();
        routes().waiters.insert(async_id, tx);
        rx
    }

    /// Forgets a waiter whose request failed synchronously.
    pub fn forget(&self, async_id: u64) {
        routes().waiters.remove(&async_id);
    }

    pub fn route_room(&self, room: u64, tx: mpsc::UnboundedSender<proto::room_event::Message>) {
        routes().rooms.insert(room, tx);
    }

    pub fn unroute_room(&self, room: u64) {
        routes().rooms.remove(&room);
    }

    pub fn route_stream(&self, stream: u64, tx: mpsc::Sender<AudioFrame>) {
        routes().streams.insert(stream, tx);
    }

    pub fn unroute_stream(&self, stream: u64) {
        routes().streams.remove(&stream);
    }

    pub fn drop_handle(&self, handle: u64) {
        if handle != 0 {
            // SAFETY: a handle the library gave us, dropped once.
            unsafe { (self.drop_handle_fn)(handle) };
        }
    }
}

/// A handle the library owns memory behind; dropped with it.
pub struct OwnedHandle {
    ffi: &'static Ffi,
    pub id: u64,
}

impl OwnedHandle {
    pub fn new(ffi: &'static Ffi, id: u64) -> Self {
        Self { ffi, id }
    }
}

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        self.ffi.drop_handle(self.id);
    }
}

impl std::fmt::Debug for OwnedHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OwnedHandle({})", self.id)
    }
}

/// The library's callback: decode, route, return. Runs on its thread.
extern "C" fn on_event(data: *const u8, len: usize) {
    if data.is_null() {
        return;
    }
    // SAFETY: the library passes a buffer valid for the duration of the call.
    let bytes = unsafe { std::slice::from_raw_parts(data, len) };
    let Ok(event) = proto::FfiEvent::decode(bytes) else {
        tracing::warn!("an undecodable event from the LiveKit media library");
        return;
    };
    let Some(msg) = event.message else { return };
    match msg {
        ffi_event::Message::Logs(batch) => {
            for r in batch.records {
                match proto::LogLevel::try_from(r.level) {
                    Ok(proto::LogLevel::LogError) => {
                        tracing::error!(target: "livekit_ffi", "{}: {}", r.target, r.message)
                    }
                    Ok(proto::LogLevel::LogWarn) => {
                        tracing::warn!(target: "livekit_ffi", "{}: {}", r.target, r.message)
                    }
                    Ok(proto::LogLevel::LogInfo) => {
                        tracing::info!(target: "livekit_ffi", "{}: {}", r.target, r.message)
                    }
                    _ => tracing::trace!(target: "livekit_ffi", "{}: {}", r.target, r.message),
                }
            }
        }
        ffi_event::Message::Panic(p) => {
            tracing::error!(message = %p.message, "the LiveKit media library panicked; rooms stop");
            if let Some(ffi) = FFI.get() {
                ffi.broken.store(true, Ordering::Relaxed);
            }
            // Every room and stream ends: their senders go.
            let mut r = routes();
            r.rooms.clear();
            r.streams.clear();
            r.waiters.clear();
        }
        ffi_event::Message::RoomEvent(ev) => {
            let Some(inner) = ev.message else { return };
            let tx = routes().rooms.get(&ev.room_handle).cloned();
            if let Some(tx) = tx {
                let _ = tx.send(inner);
            }
        }
        ffi_event::Message::AudioStreamEvent(ev) => on_audio(ev),
        other => {
            if let Some(id) = async_id(&other) {
                let waiter = routes().waiters.remove(&id);
                if let Some(w) = waiter {
                    let _ = w.send(other);
                }
            }
        }
    }
}

fn on_audio(ev: proto::AudioStreamEvent) {
    let ffi = FFI.get();
    match ev.message {
        Some(proto::audio_stream_event::Message::FrameReceived(f)) => {
            let info = f.frame.info;
            let n = info.samples_per_channel as usize * info.num_channels.max(1) as usize;
            // SAFETY: the frame's buffer lives until its handle is dropped,
            // which happens right after this copy.
            let samples: Vec<f32> = if info.data_ptr != 0 && n > 0 {
                let raw = unsafe { std::slice::from_raw_parts(info.data_ptr as *const i16, n) };
                mono(raw, info.num_channels.max(1) as usize)
            } else {
                Vec::new()
            };
            if let Some(ffi) = ffi {
                ffi.drop_handle(f.frame.handle.id);
            }
            let tx = routes().streams.get(&ev.stream_handle).cloned();
            if let Some(tx) = tx
                && tx.try_send(AudioFrame { samples, rate: info.sample_rate }).is_err()
            {
                DROPPED_FRAMES.fetch_add(1, Ordering::Relaxed);
            }
        }
        Some(proto::audio_stream_event::Message::Eos(_)) => {
            routes().streams.remove(&ev.stream_handle);
        }
        None => {}
    }
}

/// int16 interleaved → f32 mono.
fn mono(raw: &[i16], channels: usize) -> Vec<f32> {
    raw.chunks_exact(channels).map(|c| c.iter().map(|&s| s as f32 / 32768.0).sum::<f32>() / channels as f32).collect()
}

/// The async id of a callback event, for the ones requests wait on.
fn async_id(msg: &ffi_event::Message) -> Option<u64> {
    use ffi_event::Message as M;
    Some(match msg {
        M::Connect(c) => c.async_id,
        M::Disconnect(c) => c.async_id,
        M::Dispose(c) => c.async_id,
        M::PublishTrack(c) => c.async_id,
        M::UnpublishTrack(c) => c.async_id,
        M::PublishData(c) => c.async_id,
        M::CaptureAudioFrame(c) => c.async_id,
        M::SetLocalName(c) => c.async_id,
        M::SetLocalMetadata(c) => c.async_id,
        M::SetLocalAttributes(c) => c.async_id,
        M::PublishTranscription(c) => c.async_id,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_is_averaged_to_mono() {
        assert_eq!(mono(&[16384, -16384, 8192, 8192], 2), vec![0.0, 0.25]);
        assert_eq!(mono(&[-32768], 1), vec![-1.0]);
    }

    #[test]
    fn a_missing_library_says_where_it_was_looked_for() {
        let err = match Ffi::load(Path::new("/nonexistent/liblivekit_ffi.so")) {
            Err(e) => e,
            Ok(_) => panic!("loaded a file that does not exist"),
        };
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/liblivekit_ffi.so") && text.contains("models install livekit-ffi"),
            "{text}"
        );
    }

    #[test]
    fn a_library_of_another_version_is_refused_before_it_is_loaded() {
        let dir = std::env::temp_dir().join(format!("lkffi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("liblivekit_ffi.so");
        std::fs::write(&fake, b"not the library").unwrap();
        let err = match Ffi::load(&fake) {
            Err(e) => e,
            Ok(_) => panic!("loaded a wrong file"),
        };
        assert!(err.to_string().contains("is not the LiveKit media library"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
