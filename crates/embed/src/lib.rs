//! `switchboard-embed` owns local sentence embeddings, and nothing else:
//! [`Embedder`] turns text into 384-dimensional, L2-normalised vectors with
//! all-MiniLM-L6-v2 (a 6-layer BERT, through candle on the CPU), read from
//! three files on disk, and [`default_model_dir`] says where
//! `switchboard models install` installs them. `Embedder` is core's
//! `TextEmbedder`.
//!
//! What the vectors are for (indexing, search, storage) lives elsewhere.
//! Nothing here downloads anything: the model is installed by the setup
//! script, never at run time.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The length of every vector.
pub const DIM: usize = 384;

/// The model [`default_model_dir`] holds, to tag stored vectors with.
pub const MODEL_ID: &str = "all-MiniLM-L6-v2";

/// Tokens per text, [CLS] and [SEP] included: what the model was trained
/// with (sentence-transformers' `max_seq_length`); longer texts are cut.
pub const MAX_TOKENS: usize = 256;

/// Threads one embedder computes on at most (2 cores on our machines: more
/// would only contend with the language model and the server).
pub const MAX_THREADS: usize = 2;

const CONFIG_FILE: &str = "config.json";
const TOKENIZER_FILE: &str = "tokenizer.json";
const WEIGHTS_FILE: &str = "model.safetensors";

pub use switchboard_core::models_dir;

/// Where `switchboard models install` installs all-MiniLM-L6-v2.
pub fn default_model_dir() -> PathBuf {
    models_dir().join("all-minilm-l6-v2")
}

/// What a user should do when the model is missing or damaged.
pub const INSTALL_HINT: &str = "run `make setup` (or `switchboard models install`) to install the embedding model";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file (or the folder) does not exist.
    #[error("embedding model file {} is missing; {INSTALL_HINT}", path.display())]
    ModelMissing { path: PathBuf },
    /// A model file exists but cannot be read (permissions, I/O).
    #[error("embedding model file {} cannot be read: {source}", path.display())]
    ModelUnreadable { path: PathBuf, source: std::io::Error },
    /// A model file was read but is not what it should be.
    #[error("embedding model file {} is corrupt ({reason}); {INSTALL_HINT}", path.display())]
    ModelCorrupt { path: PathBuf, reason: String },
    /// Tokenising or running the model failed.
    #[error("embedding failed: {0}")]
    Failed(#[source] BoxError),
}

impl EmbedError {
    /// A stable, machine-readable code for each variant.
    pub fn code(&self) -> &'static str {
        match self {
            EmbedError::ModelMissing { .. } => "embed_model_missing",
            EmbedError::ModelUnreadable { .. } => "embed_model_unreadable",
            EmbedError::ModelCorrupt { .. } => "embed_model_corrupt",
            EmbedError::Failed(_) => "embed_failed",
        }
    }
}

impl From<candle_core::Error> for EmbedError {
    fn from(e: candle_core::Error) -> Self {
        EmbedError::Failed(Box::new(e))
    }
}

/// all-MiniLM-L6-v2, loaded. `embed*` are synchronous and CPU-bound: call
/// them from blocking threads, never on the async runtime. One embedder can
/// be shared (`Send + Sync`); concurrent calls each run on its thread pool.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    // Our own pool, so candle's kernels (gemm, softmax, layer norm: all rayon)
    // use at most MAX_THREADS whatever the machine has, and leave rayon's
    // global pool to others.
    pool: rayon::ThreadPool,
    device: Device,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("model_id", &MODEL_ID).finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from
    /// `dir`, checking that each exists and parses and that the model makes
    /// [`DIM`]-long vectors.
    pub fn load(dir: &Path) -> Result<Embedder, EmbedError> {
        let config_path = dir.join(CONFIG_FILE);
        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let weights_path = dir.join(WEIGHTS_FILE);
        // All three checked for existence first, so a half-installed folder is
        // reported as missing rather than by whichever parse fails first.
        for path in [&config_path, &tokenizer_path, &weights_path] {
            if !path.is_file() {
                return Err(EmbedError::ModelMissing { path: path.clone() });
            }
        }
        let corrupt = |path: &Path, reason: String| EmbedError::ModelCorrupt { path: path.to_path_buf(), reason };

        let config: Config =
            serde_json::from_slice(&read(&config_path)?).map_err(|e| corrupt(&config_path, e.to_string()))?;
        if config.hidden_size != DIM {
            return Err(corrupt(&config_path, format!("hidden size {}, expected {DIM}", config.hidden_size)));
        }

        let mut tokenizer =
            Tokenizer::from_bytes(read(&tokenizer_path)?).map_err(|e| corrupt(&tokenizer_path, e.to_string()))?;
        // The file pads every text to 128 tokens and cuts there; we pad only
        // to the longest text of a batch and cut at the model's 256.
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| corrupt(&tokenizer_path, e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));

        let device = Device::Cpu;
        // Read, not memory-mapped: no `unsafe`, and the bytes are copied into
        // tensors at load anyway (the buffer is dropped right after).
        let vb = VarBuilder::from_buffered_safetensors(read(&weights_path)?, DType::F32, &device)
            .map_err(|e| corrupt(&weights_path, e.to_string()))?;
        let model = BertModel::load(vb, &config).map_err(|e| corrupt(&weights_path, e.to_string()))?;

        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("embed-{i}"))
            .build()
            .map_err(|e| EmbedError::Failed(Box::new(e)))?;
        Ok(Embedder { model, tokenizer, pool, device })
    }

    /// The model's name, to tag stored vectors with: vectors of different
    /// models are not comparable.
    pub fn model_id(&self) -> &str {
        MODEL_ID
    }

    /// One text's vector; see [`Embedder::embed_batch`].
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed_batch(&[text])?.pop().expect("one vector per text"))
    }

    /// One vector per text, in order: [`DIM`] floats of unit length (mean of
    /// the token vectors, then L2-normalised), so a dot product is the
    /// cosine similarity. Texts longer than [`MAX_TOKENS`] tokens are cut;
    /// an empty text still gets a vector. Batches amortise the per-call cost,
    /// but a batch is padded to its longest text: group texts of similar
    /// length.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.pool.install(|| self.run(texts))
    }

    fn run(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(EmbedError::Failed)?;
        let (batch, len) = (encodings.len(), encodings[0].len());
        let mut ids = Vec::with_capacity(batch * len);
        let mut mask = Vec::with_capacity(batch * len);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (batch, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (batch, len), &self.device)?;
        // One segment: token type 0 everywhere.
        let types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?; // (batch, len, DIM)

        // Mean over the real tokens only: padding must not move the vector.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (batch, len, 1)
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (batch, DIM)
        let counts = mask.sum(1)?; // (batch, 1), at least 2: [CLS] and [SEP]
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f32::MAX)?;
        Ok(mean.broadcast_div(&norm)?.to_vec2::<f32>()?)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, EmbedError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        // Removed between the existence check and now.
        std::io::ErrorKind::NotFound => EmbedError::ModelMissing { path: path.to_path_buf() },
        _ => EmbedError::ModelUnreadable { path: path.to_path_buf(), source },
    })
}

/// The core's port: hybrid search and the agent embed through it.
impl switchboard_core::embed::TextEmbedder for Embedder {
    fn model_id(&self) -> &str {
        MODEL_ID
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, switchboard_core::embed::EmbedFailure> {
        self.embed_batch(texts).map_err(|e| switchboard_core::embed::EmbedFailure(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedder_is_send_and_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<Embedder>();
        assert::<EmbedError>();
    }

    #[test]
    fn codes_are_stable() {
        let path = PathBuf::from("x");
        assert_eq!(EmbedError::ModelMissing { path: path.clone() }.code(), "embed_model_missing");
        assert_eq!(EmbedError::ModelCorrupt { path, reason: "r".into() }.code(), "embed_model_corrupt");
        assert_eq!(EmbedError::Failed("x".into()).code(), "embed_failed");
    }
}
