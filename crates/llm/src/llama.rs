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
//!
//! With a `state_dir`, the evaluated system turn (the prompt up to the end
//! of the first system message) is also kept on disk (`prompt_state`): a new
//! engine, after a restart, restores it instead of evaluating it again.
//!
//! When a request offers tools (and brings no grammar of its own), a lazy
//! grammar (`tool_grammar`) makes any tool call the model starts valid JSON
//! for one of the offered tools; until it starts one, nothing is constrained.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::session::LlamaStateSeqFlags;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use switchboard_core::llm::{
    ChatRequest, FinishReason, LanguageModel, LlmError, LlmEvent, LlmStream, ModelInfo, ToolCall,
};
use tokio::sync::mpsc;

use crate::prompt_state::{StateCache, StateIdentity};
use crate::tool_parse::{Piece, ToolCallFilter};
use crate::{INSTALL_HINT, STREAM_CAPACITY, chatml, tool_grammar};

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
    /// A folder to keep evaluated system prompts in across restarts (the
    /// server passes `<data_dir>/llm-cache`); `None`: memory only. Created
    /// when first needed; unreadable or stale files are deleted, never fatal.
    pub state_dir: Option<PathBuf>,
    /// How many saved prompt states to keep in `state_dir` (default 4, the
    /// most recently used).
    pub state_files: usize,
    /// Constrain tool calls by a grammar built from the offered tools'
    /// schemas (default true; see `tool_grammar`). Requests that bring their
    /// own grammar use theirs.
    pub tool_grammar: bool,
}

impl Default for LlamaOptions {
    fn default() -> Self {
        Self { threads: 2, context_size: 8192, batch_size: 256, state_dir: None, state_files: 4, tool_grammar: true }
    }
}

/// System turns shorter than this are not worth a file.
const MIN_SAVED_PREFIX: usize = 32;

/// Figures from one generation, for tests, logs and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenerationStats {
    /// Tokens in the whole prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens actually decoded; the rest came from the KV cache.
    pub prompt_decoded: usize,
    /// Prompt tokens whose state was restored from a saved file (some of
    /// those not decoded).
    pub prompt_restored: usize,
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
    /// The request's own grammar: enforced from the first token.
    grammar: Option<String>,
    /// Offered tools as a lazy grammar: enforced once a call starts.
    tool_grammar: Option<String>,
    deadline: Instant,
    tx: Events,
}

/// Longest wait at shutdown for the worker to finish its job.
const QUIESCE_LIMIT: Duration = Duration::from_secs(30);

/// The embedded llama.cpp engine. Cheap to share behind an `Arc`; dropping
/// the last handle stops the worker after its current generation.
pub struct LlamaEngine {
    jobs: std_mpsc::Sender<Job>,
    /// The worker is inside a job (decoding).
    busy: Arc<std::sync::atomic::AtomicBool>,
    model_name: String,
    path: PathBuf,
    stats: Arc<Stats>,
    tool_grammar: bool,
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

pub(crate) fn backend() -> Result<&'static LlamaBackend, LlmError> {
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
        let busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let worker_busy = busy.clone();
        let worker_path = path.clone();
        let threads = opts.threads;
        let tool_grammar = opts.tool_grammar;
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
                let mut worker = match Worker::new(backend, &model, &worker_path, &opts, worker_stats) {
                    Ok(w) => w,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                for job in jobs_rx {
                    worker_busy.store(true, Ordering::SeqCst);
                    worker.run(job);
                    worker_busy.store(false, Ordering::SeqCst);
                }
            })
            .map_err(|e| LlmError::Backend(Box::new(e)))?;
        ready_rx.recv().map_err(|_| LlmError::Backend("the llama.cpp worker stopped while loading".into()))??;
        tracing::info!(model = %path.display(), threads, "embedded language model loaded");
        Ok(Self { jobs: jobs_tx, busy, model_name, path, stats, tool_grammar })
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

    async fn quiesce(&self) {
        // A job whose receiver is gone stops at its next token; a prompt
        // prefill runs to its end (seconds). Bounded: exit anyway after it.
        let until = tokio::time::Instant::now() + QUIESCE_LIMIT;
        let mut idle_polls = 0;
        while idle_polls < 3 && tokio::time::Instant::now() < until {
            if self.busy.load(Ordering::SeqCst) {
                idle_polls = 0;
            } else {
                idle_polls += 1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn chat(&self, req: ChatRequest) -> Result<LlmStream, LlmError> {
        let (tx, rx) = mpsc::channel(STREAM_CAPACITY);
        let tool_grammar = match &req.grammar {
            None if self.tool_grammar => tool_grammar::tool_call_grammar(&req.tools),
            _ => None,
        };
        let job = Job {
            prompt: chatml::render(&req.messages, &req.tools),
            tools: !req.tools.is_empty(),
            tool_grammar,
            max_tokens: req.max_tokens.max(1),
            temperature: req.temperature,
            grammar: req.grammar,
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
    /// Saved system turns, when the engine has a `state_dir`.
    states: Option<StateCache>,
    /// `<|im_end|>`, which ends the system turn (ChatML models only).
    im_end: Option<LlamaToken>,
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
        path: &Path,
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
        let states = opts.state_dir.as_ref().map(|dir| {
            let id = StateIdentity {
                model_name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                model_size: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
                n_ctx: ctx.n_ctx(),
                n_batch: ctx.n_batch(),
                n_ubatch: ctx.n_ubatch(),
            };
            StateCache::new(dir, opts.state_files, &id)
        });
        let im_end = match model.vocab().tokenize(b"<|im_end|>", false, true).as_slice() {
            [t] => Some(*t),
            _ => None,
        };
        Ok(Self {
            model,
            ctx,
            batch: LlamaBatch::new(batch_size as usize, 1),
            batch_size: batch_size as usize,
            cached: Vec::new(),
            stats,
            states,
            im_end,
        })
    }

    /// The length of the system turn that starts `prompt` (through its
    /// `<|im_end|>`), when it is worth saving and something follows it.
    fn system_prefix(&self, prompt: &[LlamaToken]) -> Option<usize> {
        let im_end = self.im_end?;
        let end = prompt.iter().position(|&t| t == im_end)? + 1;
        (end >= MIN_SAVED_PREFIX && end < prompt.len()).then_some(end)
    }

    /// Replaces the cache with the saved state of `prefix`, if there is a
    /// usable one.
    fn restore(&mut self, prefix: &[LlamaToken]) -> bool {
        let started = Instant::now();
        let Some(data) = self.states.as_ref().and_then(|s| s.load(prefix)) else { return false };
        let read = started.elapsed();
        self.reset_cache();
        // SAFETY: `data` is byte for byte what `state_seq_get_data_ext`
        // produced for this model file and context parameters (the file's
        // key and SHA-256 were checked); llama.cpp also checks the shape.
        let ok = unsafe { self.ctx.state_seq_set_data_ext(&data, 0, LlamaStateSeqFlags::empty()) };
        if ok {
            self.cached = prefix.to_vec();
            tracing::info!(
                tokens = prefix.len(),
                bytes = data.len(),
                read_ms = read.as_millis() as u64,
                ms = started.elapsed().as_millis() as u64,
                "restored a saved system prompt"
            );
            true
        } else {
            self.reset_cache();
            if let Some(states) = &self.states {
                states.discard(prefix, "llama.cpp refused it");
            }
            false
        }
    }

    /// Saves the cache, which holds exactly `prefix`, to the state folder.
    fn save(&self, prefix: &[LlamaToken]) {
        let Some(states) = &self.states else { return };
        debug_assert_eq!(self.cached.as_slice(), prefix);
        let started = Instant::now();
        let flags = LlamaStateSeqFlags::empty();
        let size = self.ctx.state_seq_get_size_ext(0, flags);
        let mut data = vec![0u8; size];
        // SAFETY: `data` holds the `size` bytes llama.cpp asked for.
        let written = unsafe { self.ctx.state_seq_get_data_ext(data.as_mut_ptr(), 0, flags) };
        if size == 0 || written != size {
            tracing::warn!(size, written, "cannot serialise the prompt state; not saved");
            return;
        }
        match states.save(prefix, &data) {
            Ok(path) => tracing::info!(
                file = %path.display(), tokens = prefix.len(), bytes = size, ms = started.elapsed().as_millis() as u64,
                "saved the system prompt's state"
            ),
            Err(e) => tracing::warn!(dir = %states.dir().display(), error = %e, "cannot save the prompt state"),
        }
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
        let mut keep = common_prefix(&self.cached, &prompt).min(prompt.len() - 1);
        // A system turn the cache lacks: restore it from disk, or evaluate
        // it first and save it.
        let mut restored = 0;
        let mut save_at = None;
        if let Some(n) = self.system_prefix(&prompt).filter(|&n| keep < n && self.states.is_some()) {
            if self.restore(&prompt[..n]) {
                keep = n;
                restored = n;
            } else {
                save_at = Some(n);
                keep = keep.min(self.cached.len());
            }
        }
        if keep < self.cached.len() {
            let removed = self.ctx.clear_kv_cache_seq(Some(0), Some(keep as u32), None).unwrap_or(false);
            if removed {
                self.cached.truncate(keep);
            } else {
                self.reset_cache();
            }
        }
        let reused = self.cached.len();

        // Prompt evaluation, in steps so the deadline and the reader are
        // checked; a system turn to save is evaluated (and saved) on its own.
        let mut logits_at = 0;
        let split = save_at.filter(|&n| n > reused).unwrap_or(prompt.len());
        for (from, to) in [(reused, split), (split, prompt.len())] {
            for chunk in prompt[from..to].chunks(self.batch_size) {
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
            if save_at == Some(to) {
                self.save(&prompt[..to]);
            }
        }
        let decoded = prompt.len() - reused;
        let prompt_eval = started.elapsed();
        self.stats.prompt_decoded_total.fetch_add(decoded as u64, Ordering::Relaxed);

        // Generation.
        let gen_started = Instant::now();
        let mut sampler = if let Some(g) = &job.grammar {
            // Constrained output: the grammar masks every token it forbids,
            // then greedy picks among the rest.
            let grammar = LlamaSampler::grammar(self.model, g, "root")
                .map_err(|e| LlmError::Backend(format!("grammar: {e}").into()))?;
            Sampling { grammar: Some(grammar), pick: LlamaSampler::greedy() }
        } else {
            let pick = if job.temperature <= 0.0 {
                LlamaSampler::greedy()
            } else {
                LlamaSampler::chain_simple([
                    LlamaSampler::top_k(40),
                    LlamaSampler::top_p(0.95, 1),
                    LlamaSampler::temp(job.temperature),
                    LlamaSampler::dist(seed()),
                ])
            };
            // Offered tools: free text until a call starts, then only a
            // valid call of an offered tool.
            let grammar = job.tool_grammar.as_deref().and_then(|g| {
                let patterns: Vec<String> = tool_grammar::TRIGGER_PATTERNS.iter().map(|p| p.to_string()).collect();
                LlamaSampler::grammar_lazy_patterns(self.model, g, "root", &patterns, &[])
                    .inspect_err(
                        |e| tracing::warn!(error = %e, "the tool-call grammar does not load; tool calls unconstrained"),
                    )
                    .ok()
            });
            Sampling { grammar, pick }
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
            let token = sampler.sample(&self.ctx, logits_at)?;
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
            prompt_restored: restored,
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

/// How one generation picks its tokens: `pick` (greedy, or top-k, top-p,
/// temperature), constrained by `grammar` when there is one.
struct Sampling {
    grammar: Option<LlamaSampler>,
    pick: LlamaSampler,
}

impl Sampling {
    /// Picks (and accepts) the next token from the logits at `idx`.
    ///
    /// Masking the whole vocabulary (152k tokens) by the grammar costs more
    /// than a decode step (about 30-60 ms here), so, like llama.cpp's
    /// `common_sampler`, the unconstrained pick is tried against the grammar
    /// first and the vocabulary is masked only when the grammar refuses it.
    fn sample(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> Result<LlamaToken, LlmError> {
        let Some(grammar) = &mut self.grammar else { return Ok(self.pick.sample(ctx, idx)) };
        let mut first = LlamaTokenDataArray::from_iter(ctx.candidates_ith(idx), false);
        first.apply_sampler(&mut self.pick);
        let mut token = first.selected_token().ok_or_else(|| LlmError::Backend("no token sampled".into()))?;
        let mut single = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 0.0, 0.0)], false);
        single.apply_sampler(grammar);
        if single.data[0].logit() == f32::NEG_INFINITY {
            let mut allowed = LlamaTokenDataArray::from_iter(ctx.candidates_ith(idx), false);
            allowed.apply_sampler(grammar);
            allowed.apply_sampler(&mut self.pick);
            let picked = allowed.selected.map(|i| allowed.data[i]);
            match picked {
                Some(d) if d.logit() != f32::NEG_INFINITY => token = d.id(),
                // Accepting a token the grammar refuses would abort llama.cpp.
                _ => return Err(LlmError::Protocol("the grammar allows no next token".into())),
            }
        }
        grammar.accept(token);
        self.pick.accept(token);
        Ok(token)
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
                    h.contains("/nowhere/model.gguf") && h.contains("make setup") && h.contains("switchboard models install")
                );
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}
