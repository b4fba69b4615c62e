//! The embedded engine: llama.cpp on a local GGUF file.
//!
//! One worker thread per loaded model owns the llama.cpp context and runs
//! one generation at a time; other requests wait in its queue. Tokens go to
//! the caller through the tokio channel with `blocking_send`, so inference
//! never runs on (or blocks) the async runtime.
//!
//! The KV cache is kept between calls: the worker remembers the tokens it
//! holds, keeps the longest common prefix with the next prompt (the system
//! prompt and tools, earlier turns), drops the rest and decodes only the new
//! suffix.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use switchboard_core::llm::{
    ChatRequest, FinishReason, LanguageModel, LlmError, LlmEvent, LlmStream, ModelInfo, ToolCall,
};
use tokio::sync::mpsc;

use crate::tool_parse::{Piece, ToolCallFilter};
use crate::{INSTALL_HINT, STREAM_CAPACITY, chatml};

type Events = mpsc::Sender<Result<LlmEvent, LlmError>>;

/// How the embedded model runs.
#[derive(Debug, Clone)]
pub struct LlamaOptions {
    /// Threads for prompt evaluation and generation (default 2).
    pub threads: usize,
    /// Context window in tokens: prompt plus answer (default 8192).
    pub context_size: u32,
    /// Prompt tokens decoded per step (default 256); the timeout is checked
    /// between steps.
    pub batch_size: u32,
}

impl Default for LlamaOptions {
    fn default() -> Self {
        Self { threads: 2, context_size: 8192, batch_size: 256 }
    }
}

/// Figures from one generation, for tests, logs and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenerationStats {
    /// Tokens in the whole prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens actually decoded; the rest came from the KV cache.
    pub prompt_decoded: usize,
    pub prompt_eval: Duration,
    /// Tokens generated (the end-of-turn token included).
    pub generated_tokens: usize,
    pub generation: Duration,
    /// From the start of prompt evaluation to the first token sampled.
    pub first_token: Option<Duration>,
}

struct Job {
    prompt: String,
    tools: bool,
    max_tokens: u32,
    temperature: f32,
    deadline: Instant,
    tx: Events,
}

/// The embedded llama.cpp engine. Cheap to share behind an `Arc`; dropping
/// the last handle stops the worker after its current generation.
pub struct LlamaEngine {
    jobs: std_mpsc::Sender<Job>,
    model_name: String,
    path: PathBuf,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for LlamaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaEngine").field("path", &self.path).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Stats {
    last: Mutex<Option<GenerationStats>>,
    prompt_decoded_total: AtomicU64,
}

fn backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp's own logging goes to `tracing` (target `llama_cpp_2`).
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LlmError::Unavailable(format!("llama.cpp did not start: {e}")))
}

/// Refuses to run a llama.cpp built for a CPU feature this machine lacks
/// (it would die with SIGILL instead of failing cleanly).
fn check_cpu() -> Result<(), LlmError> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: plain queries of how ggml was compiled.
        let built_avx2 = unsafe { llama_cpp_sys_2::ggml_cpu_has_avx2() } != 0;
        if built_avx2 && !std::arch::is_x86_feature_detected!("avx2") {
            return Err(LlmError::Unavailable(
                "the embedded model was built for AVX2 CPUs and this CPU lacks AVX2: \
                 rebuild without GGML_AVX2, or use SWITCHBOARD_LLM_ENGINE=openai"
                    .into(),
            ));
        }
        if !built_avx2 && std::arch::is_x86_feature_detected!("avx2") {
            tracing::warn!(
                "llama.cpp was built without AVX2 (set GGML_AVX2=ON and friends, see crates/llm/README.md): \
                 generation will be about 15 times slower"
            );
        }
    }
    Ok(())
}

impl LlamaEngine {
    /// Loads the GGUF model at `path` and starts its worker thread. A
    /// missing file is [`LlmError::Unavailable`] with the install hint.
    pub fn load(path: impl Into<PathBuf>, opts: LlamaOptions) -> Result<Self, LlmError> {
        let path = path.into();
        if !path.is_file() {
            return Err(LlmError::Unavailable(format!("no language model at {}: {INSTALL_HINT}", path.display())));
        }
        let backend = backend()?;
        check_cpu()?;
        let model_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let stats = Arc::new(Stats::default());
        let (jobs_tx, jobs_rx) = std_mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = std_mpsc::sync_channel::<Result<(), LlmError>>(1);
        let worker_stats = stats.clone();
        let worker_path = path.clone();
        let threads = opts.threads;
        std::thread::Builder::new()
            .name("llama-worker".into())
            .spawn(move || {
                let model = match load_model(backend, &worker_path) {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut worker = match Worker::new(backend, &model, &opts, worker_stats) {
                    Ok(w) => w,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                for job in jobs_rx {
                    worker.run(job);
                }
            })
            .map_err(|e| LlmError::Backend(Box::new(e)))?;
        ready_rx.recv().map_err(|_| LlmError::Backend("the llama.cpp worker stopped while loading".into()))??;
        tracing::info!(model = %path.display(), threads, "embedded language model loaded");
        Ok(Self { jobs: jobs_tx, model_name, path, stats })
    }

    /// The model file this engine runs.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Figures of the most recent finished generation.
    pub fn last_stats(&self) -> Option<GenerationStats> {
        *self.stats.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prompt tokens decoded since load (cache hits excluded).
    pub fn prompt_tokens_decoded(&self) -> u64 {
        self.stats.prompt_decoded_total.load(Ordering::Relaxed)
    }
}

fn load_model(backend: &LlamaBackend, path: &Path) -> Result<LlamaModel, LlmError> {
    LlamaModel::load_from_file(backend, path, &LlamaModelParams::default()).map_err(|e| {
        LlmError::Unavailable(format!(
            "cannot load the language model {} ({e}); it may be damaged: {INSTALL_HINT}",
            path.display()
        ))
    })
}

#[async_trait]
impl LanguageModel for LlamaEngine {
    fn info(&self) -> ModelInfo {
        ModelInfo { engine: "llama".into(), model: self.model_name.clone(), ready: true, hint: None }
    }

    fn keeps_prompt_cache(&self) -> bool {
        true
    }

    async fn chat(&self, req: ChatRequest) -> Result<LlmStream, LlmError> {
        let (tx, rx) = mpsc::channel(STREAM_CAPACITY);
        let job = Job {
            prompt: chatml::render(&req.messages, &req.tools),
            tools: !req.tools.is_empty(),
            max_tokens: req.max_tokens.max(1),
            temperature: req.temperature,
            deadline: Instant::now() + req.timeout,
            tx,
        };
        self.jobs.send(job).map_err(|_| LlmError::Backend("the llama.cpp worker has stopped".into()))?;
        Ok(rx)
    }
}

/// Owns the context; runs jobs one after another.
struct Worker<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    batch_size: usize,
    /// The tokens whose keys and values are in the cache (sequence 0), in order.
    cached: Vec<LlamaToken>,
    stats: Arc<Stats>,
}

enum Stop {
    Finished(FinishReason),
    /// The reader went away: stop quietly.
    Cancelled,
}

impl<'m> Worker<'m> {
    fn new(
        backend: &LlamaBackend,
        model: &'m LlamaModel,
        opts: &LlamaOptions,
        stats: Arc<Stats>,
    ) -> Result<Self, LlmError> {
        let threads = i32::try_from(opts.threads.max(1)).unwrap_or(2);
        let batch_size = opts.batch_size.clamp(1, opts.context_size);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(opts.context_size))
            .with_n_batch(batch_size)
            .with_n_ubatch(batch_size)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let ctx = model
            .new_context(backend, params)
            .map_err(|e| LlmError::Backend(format!("cannot create the llama.cpp context: {e}").into()))?;
        Ok(Self {
            model,
            ctx,
            batch: LlamaBatch::new(batch_size as usize, 1),
            batch_size: batch_size as usize,
            cached: Vec::new(),
            stats,
        })
    }

    fn run(&mut self, job: Job) {
        if job.tx.is_closed() {
            return;
        }
        let tx = job.tx.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.generate(job)));
        let err = match result {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => {
                self.reset_cache();
                LlmError::Backend("the llama.cpp worker panicked".into())
            }
        };
        let _ = tx.blocking_send(Err(err));
    }

    fn reset_cache(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
    }

    fn generate(&mut self, job: Job) -> Result<(), LlmError> {
        let started = Instant::now();
        if started >= job.deadline {
            return Err(LlmError::Timeout);
        }
        let vocab = self.model.vocab();
        let prompt = vocab.tokenize(job.prompt.as_bytes(), false, true);
        if prompt.is_empty() {
            return Err(LlmError::Protocol("empty prompt".into()));
        }
        let n_ctx = self.ctx.n_ctx() as usize;
        if prompt.len() >= n_ctx {
            return Err(LlmError::Protocol(format!(
                "the conversation is too long for the model: {} tokens, the context holds {n_ctx}",
                prompt.len()
            )));
        }
        let max_new = (job.max_tokens as usize).min(n_ctx - prompt.len());

        // Keep the common prefix; always decode at least the last prompt
        // token, whose logits start the answer.
        let keep = common_prefix(&self.cached, &prompt).min(prompt.len() - 1);
        if keep < self.cached.len() {
            let removed = self.ctx.clear_kv_cache_seq(Some(0), Some(keep as u32), None).unwrap_or(false);
            if removed {
                self.cached.truncate(keep);
            } else {
                self.reset_cache();
            }
        }
        let reused = self.cached.len();

        // Prompt evaluation, in steps so the deadline and the reader are checked.
        let mut logits_at = 0;
        for chunk in prompt[reused..].chunks(self.batch_size) {
            if Instant::now() >= job.deadline {
                return Err(LlmError::Timeout);
            }
            if job.tx.is_closed() {
                return Ok(());
            }
            self.batch.clear();
            let last_chunk = self.cached.len() + chunk.len() == prompt.len();
            for (i, &tok) in chunk.iter().enumerate() {
                let pos = (self.cached.len() + i) as i32;
                let logits = last_chunk && i + 1 == chunk.len();
                self.batch.add(tok, pos, &[0], logits).map_err(|e| LlmError::Backend(Box::new(e)))?;
            }
            self.decode()?;
            self.cached.extend_from_slice(chunk);
            logits_at = chunk.len() as i32 - 1;
        }
        let decoded = prompt.len() - reused;
        let prompt_eval = started.elapsed();
        self.stats.prompt_decoded_total.fetch_add(decoded as u64, Ordering::Relaxed);

        // Generation.
        let gen_started = Instant::now();
        let mut sampler = if job.temperature <= 0.0 {
            LlamaSampler::greedy()
        } else {
            LlamaSampler::chain_simple([
                LlamaSampler::top_k(40),
                LlamaSampler::top_p(0.95, 1),
                LlamaSampler::temp(job.temperature),
                LlamaSampler::dist(seed()),
            ])
        };
        let mut filter = ToolCallFilter::new(job.tools);
        let mut utf8 = Utf8Buffer::default();
        let mut raw = String::new();
        let mut calls = 0usize;
        let mut generated = 0usize;
        let mut first_token = None;
        let mut stop = Stop::Finished(FinishReason::Length);
        for _ in 0..max_new {
            if Instant::now() >= job.deadline {
                return Err(LlmError::Timeout);
            }
            let token = sampler.sample(&self.ctx, logits_at);
            generated += 1;
            first_token.get_or_insert_with(|| started.elapsed());
            if vocab.is_eog(token) {
                stop = Stop::Finished(FinishReason::Stop);
                break;
            }
            let text = utf8.push(&vocab.token_to_piece(token, false, None));
            raw.push_str(&text);
            if !text.is_empty() && !send_pieces(&job.tx, filter.push(&text), &mut calls) {
                stop = Stop::Cancelled;
                break;
            }
            self.batch.clear();
            self.batch.add(token, self.cached.len() as i32, &[0], true).map_err(|e| LlmError::Backend(Box::new(e)))?;
            self.decode()?;
            self.cached.push(token);
            logits_at = 0;
        }
        let generation = gen_started.elapsed();
        tracing::debug!(prompt_tokens = prompt.len(), decoded, generated, output = %raw, "generation finished");
        *self.stats.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(GenerationStats {
            prompt_tokens: prompt.len(),
            prompt_decoded: decoded,
            prompt_eval,
            generated_tokens: generated,
            generation,
            first_token,
        });
        let Stop::Finished(mut finish) = stop else { return Ok(()) };
        let mut tail = filter.push(&utf8.finish());
        tail.extend(filter.finish());
        if !send_pieces(&job.tx, tail, &mut calls) {
            return Ok(());
        }
        if calls > 0 {
            finish = FinishReason::ToolCalls;
        }
        let done = LlmEvent::Done { finish, prompt_tokens: prompt.len() as u32, completion_tokens: generated as u32 };
        let _ = job.tx.blocking_send(Ok(done));
        Ok(())
    }

    fn decode(&mut self) -> Result<(), LlmError> {
        self.ctx.decode(&mut self.batch).map_err(|e| {
            // The cache no longer matches `cached`: start afresh next time.
            self.ctx.clear_kv_cache();
            self.cached.clear();
            LlmError::Backend(format!("llama.cpp decode failed: {e}").into())
        })
    }
}

/// Sends filtered pieces as events; false when the reader has gone.
fn send_pieces(tx: &Events, pieces: Vec<Piece>, calls: &mut usize) -> bool {
    for piece in pieces {
        let ev = match piece {
            Piece::Text(t) => LlmEvent::Token(t),
            Piece::Call(c) => {
                *calls += 1;
                LlmEvent::ToolCall(ToolCall { id: new_call_id(), name: c.name, arguments: c.arguments })
            }
        };
        if tx.blocking_send(Ok(ev)).is_err() {
            return false;
        }
    }
    true
}

fn new_call_id() -> String {
    format!("call_{}", uuid::Uuid::now_v7().simple())
}

fn seed() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    nanos ^ std::process::id()
}

pub(crate) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Joins token bytes into UTF-8 text; a character split across tokens is
/// held until its last byte arrives.
#[derive(Debug, Default)]
struct Utf8Buffer {
    pending: Vec<u8>,
}

impl Utf8Buffer {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        match std::str::from_utf8(&self.pending) {
            Ok(s) => {
                let s = s.to_string();
                self.pending.clear();
                s
            }
            Err(e) if e.error_len().is_none() => {
                // An incomplete character at the end: keep it for later.
                let valid = e.valid_up_to();
                let s = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
                self.pending.drain(..valid);
                s
            }
            Err(_) => {
                let s = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                s
            }
        }
    }

    fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_tokens() {
        let mut b = Utf8Buffer::default();
        let bytes = "é☕".as_bytes();
        assert_eq!(b.push(&bytes[..1]), "");
        assert_eq!(b.push(&bytes[1..3]), "é");
        assert_eq!(b.push(&bytes[3..]), "☕");
        assert_eq!(b.push(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(b.push(&bytes[..1]), "");
        assert_eq!(b.finish(), "\u{fffd}");
    }

    #[test]
    fn prefix_length() {
        let t = |v: &[i32]| v.iter().map(|&i| LlamaToken(i)).collect::<Vec<_>>();
        assert_eq!(common_prefix(&t(&[1, 2, 3]), &t(&[1, 2, 4, 5])), 2);
        assert_eq!(common_prefix(&t(&[]), &t(&[1])), 0);
        assert_eq!(common_prefix(&t(&[1, 2]), &t(&[1, 2, 3])), 2);
    }

    #[test]
    fn missing_model_is_unavailable_with_hint() {
        match LlamaEngine::load("/nowhere/model.gguf", LlamaOptions::default()) {
            Err(LlmError::Unavailable(h)) => {
                assert!(
                    h.contains("/nowhere/model.gguf") && h.contains("make setup") && h.contains("scripts/models.sh")
                );
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}
