//! `Embedder` with the real model, found where the app looks for it
//! (`default_model_dir()`, i.e. under `SWITCHBOARD_MODELS_DIR`). When that
//! folder is absent, the tests that need the model print "SKIPPED: model not
//! installed" and pass: `make setup` (switchboard models install) installs it.
//! The error tests build their own folders and always run.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use switchboard_embed::{DIM, EmbedError, Embedder, MODEL_ID, default_model_dir};

/// One embedder for every test (loading twice would only cost time).
fn embedder() -> Option<&'static Embedder> {
    static EMBEDDER: OnceLock<Option<Embedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let dir = default_model_dir();
            if !dir.exists() {
                eprintln!("SKIPPED: model not installed ({})", dir.display());
                return None;
            }
            let t = Instant::now();
            let e = Embedder::load(&dir).expect("the installed model loads");
            eprintln!("loaded {} in {:?}", e.model_id(), t.elapsed());
            Some(e)
        })
        .as_ref()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    // The vectors are unit length, so the dot product is the cosine.
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn sim(e: &Embedder, a: &str, b: &str) -> f32 {
    let s = cosine(&e.embed(a).unwrap(), &e.embed(b).unwrap());
    eprintln!("cosine({a:?}, {b:?}) = {s:.4}");
    s
}

#[test]
fn vectors_have_the_dimension_and_unit_length() {
    let Some(e) = embedder() else { return };
    assert_eq!(e.model_id(), MODEL_ID);
    let v = e.embed("Do you take walk-ins on Saturday?").unwrap();
    assert_eq!(v.len(), DIM);
    assert!((norm(&v) - 1.0).abs() < 1e-4, "norm {}", norm(&v));
    assert!(v.iter().all(|x| x.is_finite()));
}

#[test]
fn vectors_match_sentence_transformers() {
    let Some(e) = embedder() else { return };
    // The first values of sentence-transformers' all-MiniLM-L6-v2 vector for
    // this sentence (reproduced by an independent numpy BERT over the same
    // files): a wrong pooling, mask or tokenizer setting would miss them.
    let expected = [0.06766f32, 0.06350, 0.04871, 0.07930, 0.03745, 0.00265, 0.03937, -0.00710];
    let v = e.embed("This is an example sentence").unwrap();
    for (i, (got, want)) in v.iter().zip(expected).enumerate() {
        assert!((got - want).abs() < 1e-4, "dimension {i}: {got} != {want}");
    }
}

#[test]
fn related_texts_are_closer_than_unrelated_ones() {
    let Some(e) = embedder() else { return };
    assert!(sim(e, "rabies jab", "rabies vaccine") > sim(e, "rabies jab", "parking"));
    let q = "where can I leave my car";
    assert!(sim(e, q, "Is there parking near the clinic?") > sim(e, q, "Do you sell gift cards?"));
}

#[test]
fn a_batch_gives_the_vectors_of_its_texts_one_by_one() {
    let Some(e) = embedder() else { return };
    // Different lengths, so the short ones are padded in the batch.
    let texts = [
        "Hi",
        "",
        "Can I bring my dog to the appointment?",
        "Our opening hours are Tuesday to Friday from nine to six, and Saturday mornings until one; \
         we are closed on Sundays, Mondays and public holidays.",
    ];
    let batch = e.embed_batch(&texts).unwrap();
    assert_eq!(batch.len(), texts.len());
    for (text, b) in texts.iter().zip(&batch) {
        let single = e.embed(text).unwrap();
        let diff = single.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(diff < 1e-4, "{text:?}: max difference {diff}");
    }
    assert!(e.embed_batch(&[]).unwrap().is_empty());
}

#[test]
fn an_empty_text_gets_a_unit_vector() {
    let Some(e) = embedder() else { return };
    for text in ["", "   "] {
        let v = e.embed(text).unwrap();
        assert_eq!(v.len(), DIM);
        assert!((norm(&v) - 1.0).abs() < 1e-4);
    }
}

#[test]
fn long_texts_are_cut_at_256_tokens() {
    let Some(e) = embedder() else { return };
    let sentence = "The clinic vaccinates dogs and cats against rabies every weekday morning. ";
    let long: String = sentence.repeat(2_000 / sentence.len() + 1).chars().take(2_000).collect();
    assert_eq!(long.chars().count(), 2_000);
    let v = e.embed(&long).unwrap();
    assert!((norm(&v) - 1.0).abs() < 1e-4);
    // Anything past the cut changes nothing.
    let longer = format!("{long} Parking is free behind the building. Gift cards are sold at the desk.");
    let w = e.embed(&longer).unwrap();
    assert!(cosine(&v, &w) > 0.9999, "cosine {}", cosine(&v, &w));
}

#[test]
fn a_missing_folder_or_file_is_model_missing() {
    let dir = tempfile::tempdir().unwrap();
    let err = Embedder::load(&dir.path().join("nowhere")).unwrap_err();
    assert_eq!(err.code(), "embed_model_missing", "{err}");
    // A half-installed folder too.
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let err = Embedder::load(dir.path()).unwrap_err();
    assert_eq!(err.code(), "embed_model_missing", "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn a_corrupt_config_is_model_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [("config.json", "not json"), ("tokenizer.json", "{}"), ("model.safetensors", "x")] {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    let err = Embedder::load(dir.path()).unwrap_err();
    assert_eq!(err.code(), "embed_model_corrupt", "{err}");
    assert!(err.to_string().contains("config.json"), "{err}");
}

/// The installed config and tokenizer beside the given weights.
fn with_weights(weights: &[u8]) -> tempfile::TempDir {
    let src = default_model_dir();
    let dir = tempfile::tempdir().unwrap();
    for name in ["config.json", "tokenizer.json"] {
        std::fs::copy(src.join(name), dir.path().join(name)).unwrap();
    }
    std::fs::write(dir.path().join("model.safetensors"), weights).unwrap();
    dir
}

fn assert_corrupt_weights(dir: &Path) {
    let err = Embedder::load(dir).unwrap_err();
    assert_eq!(err.code(), "embed_model_corrupt", "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn corrupt_weights_are_model_corrupt() {
    if embedder().is_none() {
        return;
    }
    // Garbage, an empty file, and a download cut in half.
    assert_corrupt_weights(with_weights(b"this is not a safetensors file").path());
    assert_corrupt_weights(with_weights(b"").path());
    let real = std::fs::read(default_model_dir().join("model.safetensors")).unwrap();
    assert_corrupt_weights(with_weights(&real[..real.len() / 2]).path());
    // A valid safetensors file without BERT's tensors.
    let header = br#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut other = (header.len() as u64).to_le_bytes().to_vec();
    other.extend_from_slice(header);
    other.extend_from_slice(&1.0f32.to_le_bytes());
    assert_corrupt_weights(with_weights(&other).path());
}

#[test]
fn errors_say_what_to_do() {
    let err = EmbedError::ModelMissing { path: "/m/model.safetensors".into() };
    assert!(err.to_string().contains("switchboard models install"), "{err}");
}
