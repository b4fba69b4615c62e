//! Speech fixtures: utterances spoken at test time by espeak-ng (nothing
//! recorded is checked in), word error rate, and a browser-call client for
//! `WS /api/voice/stream`.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard_core::speech::AudioFrame;
use tokio_tungstenite::tungstenite::Message;

/// Speaks `text` with espeak-ng (voice `en-us` unless given) and returns the
/// audio at 22,050 Hz.
pub fn speak(text: &str, voice: &str, words_per_minute: u32) -> AudioFrame {
    let out = std::process::Command::new("espeak-ng")
        .args(["-v", voice, "-s", &words_per_minute.to_string(), "--stdout", text])
        .output()
        .expect("espeak-ng runs (scripts/setup.sh installs it)");
    assert!(out.status.success(), "espeak-ng failed");
    let audio = switchboard_voice::wav::decode_streamed(&out.stdout).expect("espeak-ng WAV decodes");
    trim(&audio)
}

/// Without the silence espeak-ng puts around speech, so a test's pauses are
/// the pauses it says.
fn trim(a: &AudioFrame) -> AudioFrame {
    let loud = |s: &f32| s.abs() > 0.02;
    let start = a.samples.iter().position(loud).unwrap_or(0);
    let end = a.samples.iter().rposition(loud).map(|e| e + 1).unwrap_or(a.samples.len());
    AudioFrame::new(a.rate, a.samples[start..end.max(start)].to_vec())
}

/// `a`, then `pause_secs` of silence, then `b`.
pub fn join(a: &AudioFrame, pause_secs: f64, b: &AudioFrame) -> AudioFrame {
    assert_eq!(a.rate, b.rate);
    let mut s = a.samples.clone();
    s.extend(std::iter::repeat_n(0.0, (a.rate as f64 * pause_secs) as usize));
    s.extend_from_slice(&b.samples);
    AudioFrame::new(a.rate, s)
}

pub fn with_silence(a: &AudioFrame, before: f64, after: f64) -> AudioFrame {
    let mut s = vec![0.0; (a.rate as f64 * before) as usize];
    s.extend_from_slice(&a.samples);
    s.extend(std::iter::repeat_n(0.0, (a.rate as f64 * after) as usize));
    AudioFrame::new(a.rate, s)
}

/// The stretches of `a` with sound in them, split at silences of at least
/// `gap_secs` (each padded with 0.2 s). A recording of a whole call is
/// transcribed a stretch at a time: given one long file with gaps, Whisper
/// sometimes stops after the first sentence.
pub fn voiced_segments(a: &AudioFrame, gap_secs: f64) -> Vec<AudioFrame> {
    let win = (a.rate as usize / 50).max(1); // 20 ms
    let levels: Vec<f32> = a.samples.chunks(win).map(|c| AudioFrame::new(a.rate, c.to_vec()).rms()).collect();
    let loudest = levels.iter().copied().fold(0.0f32, f32::max);
    let floor = (loudest * 0.1).max(0.003);
    let gap = (gap_secs * 50.0).ceil() as usize;
    let pad = 10; // windows: 0.2 s
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (i, l) in levels.iter().enumerate() {
        if *l < floor {
            continue;
        }
        match spans.last_mut() {
            Some((_, end)) if i <= *end + gap => *end = i,
            _ => spans.push((i, i)),
        }
    }
    spans
        .into_iter()
        .filter(|(from, to)| to - from >= 10)
        .map(|(from, to)| {
            let start = from.saturating_sub(pad) * win;
            let end = ((to + 1 + pad) * win).min(a.samples.len());
            AudioFrame::new(a.rate, a.samples[start..end].to_vec())
        })
        .collect()
}

pub fn resample(a: &AudioFrame, rate: u32) -> AudioFrame {
    switchboard_call::resample::Resampler::convert(a, rate).expect("resample")
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

fn number_words(n: u32) -> String {
    match n {
        0..20 => ONES[n as usize].to_string(),
        20..100 => {
            let t = TENS[(n / 10) as usize];
            if n % 10 == 0 { t.to_string() } else { format!("{t} {}", ONES[(n % 10) as usize]) }
        }
        100..1000 => {
            let rest = n % 100;
            let h = format!("{} hundred", ONES[(n / 100) as usize]);
            if rest == 0 { h } else { format!("{h} {}", number_words(rest)) }
        }
        _ => n.to_string(),
    }
}

/// Lower case, no punctuation, numbers as words ("9:30" → "nine thirty",
/// "$45" → "forty five dollars"), so "5" and "five" match.
pub fn normalise(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for raw in text.to_lowercase().split(|c: char| c.is_whitespace() || c == '-') {
        let dollars = raw.starts_with('$');
        let t: String = raw.chars().filter(|c| c.is_alphanumeric() || *c == ':' || *c == '\'').collect();
        let t = t.trim_matches(':').to_string();
        if t.is_empty() {
            continue;
        }
        for part in t.split(':') {
            if let Ok(n) = part.parse::<u32>() {
                if part == "00" {
                    continue;
                }
                words.extend(number_words(n).split(' ').map(String::from));
            } else {
                let w = part.trim_end_matches("'s").replace('\'', "");
                if !w.is_empty() {
                    words.push(w);
                }
            }
        }
        if dollars {
            words.push("dollars".into());
        }
    }
    words
}

/// Word-level edit distance and reference length.
pub fn word_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let r = normalise(reference);
    let h = normalise(hypothesis);
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    (prev[h.len()], r.len())
}

/// A browser-style call over `WS /api/voice/stream`.
pub struct VoiceCall {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pub session_id: String,
    pub rate: u32,
    pub out_rate: u32,
    /// Everything received so far: events, and reply audio with the time it came.
    pub events: Vec<(Instant, Value)>,
    pub audio: Vec<(Instant, AudioFrame)>,
}

impl VoiceCall {
    pub async fn connect(base: &str, token: &str, rate: u32, out_rate: u32) -> VoiceCall {
        let url = format!(
            "{}/api/voice/stream?rate={rate}&out_rate={out_rate}&token={token}",
            base.replacen("http", "ws", 1)
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("voice stream connects");
        let first = match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<Value>(&t).unwrap(),
            other => panic!("no first message: {other:?}"),
        };
        assert_eq!(first["type"], "session", "{first}");
        assert_eq!(first["input_rate"], rate);
        let session_id = first["session_id"].as_str().unwrap().to_string();
        VoiceCall { ws, session_id, rate, out_rate, events: vec![], audio: vec![] }
    }

    /// Sends audio (converted to the call's input rate) in 20 ms frames,
    /// paced at `speed` × real time, reading whatever arrives meanwhile;
    /// false if the server closed the call first.
    pub async fn send_audio(&mut self, audio: &AudioFrame, speed: f64) -> bool {
        let audio = resample(audio, self.rate);
        let step = (self.rate / 50) as usize;
        let started = Instant::now();
        for (i, chunk) in audio.samples.chunks(step).enumerate() {
            let frame = AudioFrame::new(self.rate, chunk.to_vec());
            if self.ws.send(Message::Binary(frame.to_pcm16_le().into())).await.is_err() {
                return false;
            }
            let due = started + Duration::from_secs_f64((i + 1) as f64 * 0.02 / speed);
            if !self.pump_until(due).await {
                return false;
            }
        }
        true
    }

    pub async fn send_json(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.expect("send json");
    }

    pub async fn send_raw(&mut self, m: Message) {
        let _ = self.ws.send(m).await;
    }

    /// Reads until `deadline`.
    pub async fn pump_until(&mut self, deadline: Instant) -> bool {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            match tokio::time::timeout(deadline - now, self.ws.next()).await {
                Err(_) => return true,
                Ok(Some(Ok(m))) => self.take(m),
                Ok(_) => return false,
            }
        }
    }

    fn take(&mut self, m: Message) {
        let at = Instant::now();
        match m {
            Message::Text(t) => {
                if let Ok(v) = serde_json::from_str::<Value>(&t) {
                    self.events.push((at, v));
                }
            }
            Message::Binary(b) => {
                self.audio.push((at, AudioFrame::from_pcm16_le(self.out_rate, &b).expect("PCM16 reply")))
            }
            _ => {}
        }
    }

    /// Reads until an event matching `pred` (after index `from`) arrives.
    pub async fn wait_for(&mut self, from: usize, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some((_, v)) = self.events.iter().skip(from).find(|(_, v)| pred(v)) {
                return v.clone();
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "no matching event within {limit:?}; got {:?}",
                self.events.iter().map(|e| &e.1).collect::<Vec<_>>()
            );
            match tokio::time::timeout(deadline - now, self.ws.next()).await {
                Ok(Some(Ok(m))) => self.take(m),
                Ok(other) => panic!("call closed while waiting: {other:?}; events {:?}", self.kinds()),
                Err(_) => {}
            }
        }
    }

    pub async fn wait_type(&mut self, from: usize, ty: &str, limit: Duration) -> Value {
        self.wait_for(from, limit, |v| v["type"] == ty).await
    }

    pub fn kinds(&self) -> Vec<String> {
        self.events.iter().map(|(_, v)| v["type"].as_str().unwrap_or("?").to_string()).collect()
    }

    /// The reply audio received since `since`, joined.
    pub fn audio_since(&self, since: Instant) -> AudioFrame {
        let mut s = Vec::new();
        for (at, f) in &self.audio {
            if *at >= since {
                s.extend_from_slice(&f.samples);
            }
        }
        AudioFrame::new(self.out_rate, s)
    }

    pub async fn hang_up(mut self) -> Vec<(Instant, Value)> {
        self.send_json(serde_json::json!({"type": "hangup"})).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.pump_until(deadline).await && Instant::now() < deadline {
            if self.events.iter().any(|(_, v)| v["type"] == "ended") {
                break;
            }
        }
        self.events
    }
}

#[cfg(test)]
mod segment_tests {
    use super::*;

    #[test]
    fn a_recording_splits_at_its_silences() {
        let a = speak("Hello there.", "en-us", 170);
        let b = speak("Goodbye.", "en-us", 170);
        let whole = with_silence(&join(&a, 1.5, &b), 1.0, 1.0);
        let parts = voiced_segments(&whole, 0.6);
        assert_eq!(parts.len(), 2, "{:?}", parts.iter().map(|p| p.seconds()).collect::<Vec<_>>());
        assert!((parts[0].seconds() - a.seconds()).abs() < 0.6, "{} vs {}", parts[0].seconds(), a.seconds());
        assert!(voiced_segments(&AudioFrame::silence(16_000, 2.0), 0.6).is_empty());
    }
}
