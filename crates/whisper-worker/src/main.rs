//! `switchboard-whisper MODEL [THREADS]`: loads a whisper.cpp model and
//! transcribes requests from stdin until stdin closes.
//!
//! Protocol (one request at a time): a JSON line
//! `{"samples": N, "language": "en" | "auto" | null, "languages": ["en", "hi"]}`
//! (`languages`, optional: detect only among these) followed by N
//! little-endian `f32` samples of 16 kHz mono audio; the answer is one JSON
//! line `{"text", "language", "confidence", "no_speech", "ms"}` or
//! `{"error"}`. The first line written is `{"ready": true, "multilingual"}`
//! or `{"error"}` when the model does not load.

use std::io::{BufRead, Read, Write};
use std::time::Instant;

use serde::Deserialize;
use serde_json::json;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

/// Thirty seconds: Whisper's window, and so the longest request.
const MAX_SAMPLES: usize = 16_000 * 30;

#[derive(Deserialize)]
struct Request {
    samples: usize,
    language: Option<String>,
    /// When detecting, the languages to choose from (empty: any).
    #[serde(default)]
    languages: Vec<String>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(model) = args.next() else {
        eprintln!("usage: switchboard-whisper MODEL [THREADS]");
        std::process::exit(2);
    };
    let threads: i32 = args.next().and_then(|t| t.parse().ok()).unwrap_or(2).clamp(1, 16);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let reply = |out: &mut std::io::StdoutLock, v: serde_json::Value| {
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    };
    let ctx = match WhisperContext::new_with_params(&model, WhisperContextParameters::default()) {
        Ok(c) => c,
        Err(e) => {
            reply(&mut out, json!({ "error": format!("the model does not load: {e}") }));
            std::process::exit(1);
        }
    };
    let multilingual = ctx.is_multilingual();
    let mut state = match ctx.create_state() {
        Ok(s) => s,
        Err(e) => {
            reply(&mut out, json!({ "error": format!("no state: {e}") }));
            std::process::exit(1);
        }
    };
    reply(&mut out, json!({ "ready": true, "multilingual": multilingual }));

    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = String::new();
    let mut bytes = Vec::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let req: Request = match serde_json::from_str(line.trim()) {
            Ok(r) => r,
            Err(e) => {
                // The stream is out of step: nothing after this can be trusted.
                reply(&mut out, json!({ "error": format!("bad request: {e}") }));
                return;
            }
        };
        if req.samples > MAX_SAMPLES {
            reply(&mut out, json!({ "error": "more than 30 s of audio" }));
            return;
        }
        bytes.resize(req.samples * 4, 0);
        if input.read_exact(&mut bytes).is_err() {
            return;
        }
        let audio: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let started = Instant::now();
        // Whisper needs at least a second; pad short clips with silence.
        let mut padded;
        let data: &[f32] = if audio.len() < 16_000 + 1_600 {
            padded = audio.clone();
            padded.resize(16_000 + 1_600, 0.0);
            &padded
        } else {
            &audio
        };
        let language = match req.language.as_deref() {
            Some(l) if multilingual && l != "auto" => l.to_string(),
            _ if multilingual && !req.languages.is_empty() => match detect_among(&mut state, data, &req.languages, threads) {
                Ok(l) => l,
                Err(e) => {
                    reply(&mut out, json!({ "error": format!("language detection failed: {e}") }));
                    continue;
                }
            },
            _ if multilingual => "auto".to_string(),
            _ => "en".to_string(),
        };
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(threads);
        params.set_language(Some(&language));
        params.set_no_context(true);
        params.set_single_segment(true);
        params.set_no_timestamps(true);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_print_special(false);
        params.set_suppress_blank(true);
        params.set_suppress_nst(true);
        // Hindi comes out in Urdu script and Marathi as Hindi unless the
        // decoder is shown the script it should write.
        if let Some(prompt) = script_prompt(&language) {
            params.set_initial_prompt(prompt);
        }
        // The encoder's context sized to the utterance (50 positions a second,
        // plus a margin) instead of a full 30-second window: the largest
        // saving on short turns. Whisper pads shorter audio itself.
        let secs = audio.len() as f32 / 16_000.0;
        let ctx_len = (((secs + 1.0) * 50.0).ceil() as i32).clamp(128, 1500);
        params.set_audio_ctx(ctx_len);
        // With a shortened context Whisper sometimes fails to stop and says
        // the utterance again; speech runs at most about five tokens a
        // second, so more than that is a loop.
        params.set_max_tokens(((secs * 5.0).ceil() as i32 + 8).min(224));
        if let Err(e) = state.full(params, data) {
            reply(&mut out, json!({ "error": format!("transcription failed: {e}") }));
            continue;
        }
        let mut text = String::new();
        let mut prob_sum = 0.0f32;
        let mut tokens = 0u32;
        let mut no_speech = 0.0f32;
        for seg in state.as_iter() {
            if let Ok(t) = seg.to_str_lossy() {
                text.push_str(&t);
            }
            no_speech = no_speech.max(seg.no_speech_probability());
            for i in 0..seg.n_tokens() {
                if let Some(tok) = seg.get_token(i) {
                    let is_text =
                        tok.to_str_lossy().map(|s| !s.starts_with("[_") && !s.starts_with("<|")).unwrap_or(false);
                    if is_text {
                        prob_sum += tok.token_probability();
                        tokens += 1;
                    }
                }
            }
        }
        let detected = if language == "auto" {
            whisper_rs::get_lang_str(state.full_lang_id_from_state()).unwrap_or("en").to_string()
        } else {
            language.clone()
        };
        let confidence = if tokens > 0 { Some(prob_sum / tokens as f32) } else { None };
        let text = without_repeats(text.trim());
        reply(
            &mut out,
            json!({
                "text": text,
                "language": if multilingual { detected.as_str() } else { "en" },
                "confidence": confidence,
                "no_speech": no_speech,
                "ms": started.elapsed().as_secs_f64() * 1000.0,
            }),
        );
    }
}

/// Drops a sentence Whisper repeated ("Do you sell gift cards? Do you sell
/// gift cards?"): a caller who truly repeats themselves loses nothing by it.
fn without_repeats(text: &str) -> String {
    let mut sentences: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '?' | '!') {
            let end = i + c.len_utf8();
            sentences.push(text[start..end].trim());
            start = end;
        }
    }
    if start < text.len() {
        sentences.push(text[start..].trim());
    }
    let norm = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect::<String>();
    let sentences: Vec<&str> = sentences.into_iter().filter(|s| !s.is_empty()).collect();
    let last = sentences.len().saturating_sub(1);
    let mut out: Vec<&str> = Vec::new();
    for (i, s) in sentences.into_iter().enumerate() {
        let n = norm(s);
        if n.is_empty() || out.iter().any(|o| norm(o) == n) {
            continue;
        }
        // A repeat cut short by the token cap ("Can I"), which can only be
        // the last piece.
        if i == last && out.iter().any(|o| norm(o).starts_with(&n)) {
            continue;
        }
        out.push(s);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::without_repeats;

    #[test]
    fn repeats_and_cut_repeats_go_and_different_sentences_stay() {
        assert_eq!(without_repeats("Do you sell gift cards? Do you sell gift cards?"), "Do you sell gift cards?");
        assert_eq!(without_repeats("Can I bring my dog? Can I"), "Can I bring my dog?");
        assert_eq!(without_repeats("Hello. How are you?"), "Hello. How are you?");
        assert_eq!(without_repeats("Yes. Yes, please."), "Yes. Yes, please.");
        assert_eq!(without_repeats(""), "");
    }
}

/// The most likely of `candidates` (a caller of this business speaks one of
/// them): Whisper's own pick among all its languages mistakes a short,
/// accented utterance for a language nobody here speaks.
fn detect_among(
    state: &mut whisper_rs::WhisperState,
    audio: &[f32],
    candidates: &[String],
    threads: i32,
) -> Result<String, whisper_rs::WhisperError> {
    state.pcm_to_mel(audio, threads as usize)?;
    let (_, probs) = state.lang_detect(0, threads as usize)?;
    let mut best: Option<(&str, f32)> = None;
    for c in candidates {
        let Some(id) = whisper_rs::get_lang_id(c) else { continue };
        let p = probs.get(id as usize).copied().unwrap_or(0.0);
        if best.is_none_or(|(_, b)| p > b) {
            best = Some((c.as_str(), p));
        }
    }
    Ok(best.map(|(l, _)| l.to_string()).unwrap_or_else(|| "auto".to_string()))
}

/// "This conversation is in <language>" in the language's own script, as
/// the decoder's context (a neutral sentence: a greeting gets echoed).
fn script_prompt(language: &str) -> Option<&'static str> {
    Some(match language {
        "hi" => "यह बातचीत हिंदी में है।",
        "mr" => "हे संभाषण मराठीत आहे.",
        "bn" => "এই কথোপকথন বাংলায়।",
        _ => return None,
    })
}
