//! all-MiniLM-L6-v2 on at most 2 threads: load time, and sentences per second
//! embedding ~30-word passages one at a time and in batches of 32.
//!
//! `cargo bench -p switchboard-embed` (release build). `BENCH_SECONDS`
//! (default 5) sets how long each case runs; the model comes from
//! `default_model_dir()`.

use std::time::{Duration, Instant};

use switchboard_embed::{Embedder, default_model_dir};

/// Passages of about 30 words, varied so batches are not all one length.
fn passages() -> Vec<String> {
    let subjects = ["The clinic", "Our salon", "The front desk", "The team", "The shop"];
    let facts = [
        "opens at nine on weekdays and closes at six, except on Saturdays when it closes at one",
        "offers rabies, distemper and parvovirus vaccinations for dogs, and the usual boosters for cats and rabbits",
        "keeps two free parking spaces behind the building, and the public car park on Station Road is five minutes away",
        "sells gift cards in any amount from twenty euros, valid for a year and usable for every service",
        "asks for a day's notice to cancel; later cancellations and missed appointments pay half the booked price",
    ];
    let tails = [
        "so please call ahead if you are unsure.",
        "and the details are on our website.",
        "which most of our regular customers already know.",
    ];
    let mut out = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        for (j, f) in facts.iter().enumerate() {
            out.push(format!("{s} {f}, {}", tails[(i + j) % tails.len()]));
        }
    }
    out
}

/// CPU time of the whole process (all threads, user + system).
fn cpu_time() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct we pass.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Embeds batches of `size` for about `budget`; returns sentences per second
/// of wall time and per second of CPU time (the latter holds steady on a
/// busy machine, where wall figures drop with our share of the cores).
fn run(e: &Embedder, texts: &[&str], size: usize, budget: Duration) -> (f64, f64) {
    let batches: Vec<Vec<&str>> =
        (0..texts.len()).map(|i| (0..size).map(|k| texts[(i + k) % texts.len()]).collect()).collect();
    e.embed_batch(&batches[0]).unwrap(); // warm-up
    let (start, cpu, mut done, mut i) = (Instant::now(), cpu_time(), 0usize, 0usize);
    while start.elapsed() < budget || done == 0 {
        done += e.embed_batch(&batches[i % batches.len()]).unwrap().len();
        i += 1;
    }
    (done as f64 / start.elapsed().as_secs_f64(), done as f64 / (cpu_time() - cpu).as_secs_f64())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then
    // only check that it runs.
    let bench = std::env::args().any(|a| a == "--bench");
    let dir = default_model_dir();
    if !dir.exists() {
        println!("SKIPPED: model not installed ({})", dir.display());
        return;
    }
    let seconds = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let budget = Duration::from_secs_f64(if bench { seconds } else { 0.0 });

    let t = Instant::now();
    let e = Embedder::load(&dir).expect("the model loads");
    let load = t.elapsed();
    let texts = passages();
    let words = texts.iter().map(|t| t.split_whitespace().count()).sum::<usize>() as f64 / texts.len() as f64;
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();

    println!("embed: {} from {}", e.model_id(), dir.display());
    println!("embed: load {:.0} ms", load.as_secs_f64() * 1e3);
    println!("embed: passages of {words:.1} words on average");
    for size in [1, 32] {
        let (wall, cpu) = run(&e, &texts, size, budget);
        println!("embed: batch {size:>2}: {wall:.1} sentences/s ({cpu:.1} per CPU-second)");
    }
}
