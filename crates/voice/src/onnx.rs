//! ONNX Runtime, loaded once per process from the library the model
//! installer puts in the models folder (`ort` with `load-dynamic`: nothing
//! is linked or downloaded at build time).

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static RUNTIME: OnceLock<Result<String, String>> = OnceLock::new();

/// Where the installer puts `libonnxruntime.so`.
pub fn default_library() -> PathBuf {
    crate::models_dir().join("onnxruntime/libonnxruntime.so")
}

/// Loads the runtime from `path` the first time (later calls return the
/// first outcome: one library per process). The library is opened and
/// checked here before ort sees it, because ort 2.0.0-rc.12 deadlocks when
/// it has to report a load failure itself (pykeio/ort #560, #583, #604).
pub fn runtime(path: &Path) -> Result<String, String> {
    RUNTIME.get_or_init(|| load(path)).clone()
}

fn load(path: &Path) -> Result<String, String> {
    // ort resolves relative paths against the executable's folder.
    let path = std::fs::canonicalize(path).map_err(|e| format!("ONNX Runtime library {}: {e}", path.display()))?;
    let version = probe(&path)?;
    ort::init_from(&path)
        .map_err(|e| format!("loading ONNX Runtime {version} from {}: {e}", path.display()))?
        .with_name("switchboard")
        .commit();
    tracing::info!(%version, path = %path.display(), "ONNX Runtime loaded");
    Ok(version)
}

/// Opens the library and checks it has the C API this ort build needs.
fn probe(path: &Path) -> Result<String, String> {
    let bad = |what: String| format!("ONNX Runtime library {}: {what}", path.display());
    // SAFETY: loading a library runs its initialisers; ort loads this same
    // file right after.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| bad(e.to_string()))?;
    // SAFETY: the symbol's type is onnxruntime's documented entry point.
    let get_base = unsafe { lib.get::<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase>(b"OrtGetApiBase\0") }
        .map_err(|_| bad("no OrtGetApiBase symbol: not an ONNX Runtime library".into()))?;
    // SAFETY: OrtGetApiBase returns a static table; its functions take no
    // pointers from us.
    let (version, api) = unsafe {
        let base = get_base();
        if base.is_null() {
            return Err(bad("OrtGetApiBase returned null".into()));
        }
        let version = CStr::from_ptr(((*base).GetVersionString)()).to_string_lossy().into_owned();
        (version, ((*base).GetApi)(ort::MINOR_VERSION))
    };
    if api.is_null() {
        return Err(bad(format!(
            "version {version} lacks C API {0} (needs ONNX Runtime 1.{0} or newer)",
            ort::MINOR_VERSION
        )));
    }
    Ok(version)
}
