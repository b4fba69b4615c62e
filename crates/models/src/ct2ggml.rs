//! Converts a CTranslate2 (faster-whisper) Whisper export to a whisper.cpp
//! ggml file, byte for byte the file whisper.cpp publishes for the same
//! OpenAI checkpoint (the catalogue pins its SHA-256).
//!
//! CTranslate2 model.bin (little-endian): u32 binary version, string spec
//! name ("WhisperSpec"), u32 revision, u32 variable count, then per variable
//! a string name, u8 rank, u32 dims, u8 dtype (0 f32, 1 i8, 2 i16, 3 i32,
//! 4 f16, 5 bf16), u32 byte count and the data; then u32 alias count and
//! (alias, target) string pairs. A string is a u16 length (NUL included),
//! the bytes and the NUL. An int8 weight comes with a per-row f32 scale.
//!
//! ggml (whisper.cpp's legacy format): i32 magic "ggml", eleven i32
//! hparams, the mel filter bank (i32 rows, i32 columns, f32 values), the
//! first 50,257 vocabulary entries (i32 length + bytes each), then tensors
//! until the end: i32 rank, i32 name length, i32 type (0 f32, 1 f16), the
//! dims innermost first, the name and the row-major data.
//!
//! Memory: model.bin is held once (borrowed slices, no per-tensor copies);
//! float16 tensors are written straight from it, anything else is converted
//! in small chunks on the way out.

use crate::fsutil::{HashingWriter, TempPath};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Cursor, Read, Write};
use std::path::Path;
use std::rc::Rc;

pub const GGML_MAGIC: i32 = 0x6767_6d6c;
/// Vocabulary entries written to the file; whisper.cpp names the rest.
pub const GPT2_VOCAB_SIZE: usize = 50257;
pub const HPARAM_NAMES: [&str; 11] = [
    "n_vocab",
    "n_audio_ctx",
    "n_audio_state",
    "n_audio_head",
    "n_audio_layer",
    "n_text_ctx",
    "n_text_state",
    "n_text_head",
    "n_text_layer",
    "n_mels",
    "ftype",
];

#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    /// Bad or unsupported input; the message says what.
    Format(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::Format(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Format(_) => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn bad<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Format(msg.into()))
}

// --------------------------------------------------------------------------
// Half-precision conversions, bit-exact with numpy's (npy_half) so that a
// float32 -> float16 cast gives the same bytes as `astype("<f2")`.
// --------------------------------------------------------------------------

pub fn f16_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let sign = (h & 0x8000) << 16;
    let exp = h & 0x7c00;
    let bits = match exp {
        0 => {
            let mut sig = h & 0x03ff;
            if sig == 0 {
                sign
            } else {
                // Subnormal: normalize.
                let mut e = 0u32;
                sig <<= 1;
                while sig & 0x0400 == 0 {
                    sig <<= 1;
                    e += 1;
                }
                sign | ((127 - 15 - e) << 23) | ((sig & 0x03ff) << 13)
            }
        }
        0x7c00 => sign | 0x7f80_0000 | ((h & 0x03ff) << 13),
        _ => sign | (((h & 0x7fff) + 0x1_c000) << 13),
    };
    f32::from_bits(bits)
}

/// Round-to-nearest-even, as numpy's npy_floatbits_to_halfbits.
pub fn f32_to_f16(x: f32) -> u16 {
    let f = x.to_bits();
    let sign = ((f & 0x8000_0000) >> 16) as u16;
    let f_exp = f & 0x7f80_0000;
    if f_exp >= 0x4780_0000 {
        if f_exp == 0x7f80_0000 {
            let sig = f & 0x007f_ffff;
            if sig != 0 {
                // NaN: keep the top payload bits, but stay a NaN.
                let mut ret = (0x7c00 + (sig >> 13)) as u16;
                if ret == 0x7c00 {
                    ret += 1;
                }
                return sign + ret;
            }
            return sign + 0x7c00;
        }
        return sign + 0x7c00; // overflow to infinity
    }
    if f_exp <= 0x3800_0000 {
        if f_exp < 0x3300_0000 {
            return sign; // too small: signed zero
        }
        // Subnormal half.
        let e = f_exp >> 23;
        let mut sig = 0x0080_0000 + (f & 0x007f_ffff);
        sig >>= 113 - e;
        // Round half to even; the shift may have dropped sticky bits, so
        // look at the original low bits too.
        if (sig & 0x3fff) != 0x1000 || (f & 0x07ff) != 0 {
            sig += 0x1000;
        }
        return sign + (sig >> 13) as u16;
    }
    let h_exp = ((f_exp - 0x3800_0000) >> 13) as u16;
    let mut sig = f & 0x007f_ffff;
    if (sig & 0x3fff) != 0x1000 {
        sig += 0x1000;
    }
    // A carry out of the significand correctly bumps the exponent (possibly
    // to infinity).
    sign + (((sig >> 13) as u16) + h_exp)
}

// --------------------------------------------------------------------------
// Reading the CTranslate2 model
// --------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl DType {
    fn from_id(id: u8) -> Option<DType> {
        Some(match id {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            5 => DType::BF16,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

/// One variable of model.bin; `data` borrows the file's bytes.
#[derive(Clone, Debug)]
pub struct Variable<'a> {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub data: &'a [u8],
}

fn le_u16(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[2 * i], b[2 * i + 1]])
}

fn le_u32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
}

impl Variable<'_> {
    pub fn numel(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Element i as `astype(float32)` would give it.
    fn f32_at(&self, i: usize) -> f32 {
        let d = self.data;
        match self.dtype {
            DType::F32 => f32::from_bits(le_u32(d, i)),
            DType::I8 => d[i] as i8 as f32,
            DType::I16 => le_u16(d, i) as i16 as f32,
            DType::I32 => le_u32(d, i) as i32 as f32,
            DType::F16 => f16_to_f32(le_u16(d, i)),
            DType::BF16 => f32::from_bits((le_u16(d, i) as u32) << 16),
        }
    }

    /// Element i exactly (every dtype fits an f64), for value comparisons.
    fn f64_at(&self, i: usize) -> f64 {
        match self.dtype {
            DType::I32 => le_u32(self.data, i) as i32 as f64,
            _ => self.f32_at(i) as f64,
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let left = self.data.len() - self.pos;
        if n > left {
            return bad(format!(
                "model.bin is truncated: needs {n} bytes at offset {}, only {left} left (file is {} bytes)",
                self.pos,
                self.data.len()
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(le_u16(self.take(2)?, 0))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(le_u32(self.take(4)?, 0))
    }

    /// u16 length (with the trailing NUL), bytes; trailing NULs stripped.
    fn string(&mut self) -> Result<String> {
        let n = self.u16()? as usize;
        let raw = self.take(n)?;
        let end = raw.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        String::from_utf8(raw[..end].to_vec())
            .map_err(|_| Error::Format(format!("model.bin: a name at offset {} is not UTF-8", self.pos - n)))
    }
}

/// A parsed model.bin, with look-ups that follow aliases and record which
/// variables were used (to refuse conversions that would drop tensors).
pub struct Ct2Model<'a> {
    pub version: u32,
    pub spec: String,
    pub revision: u32,
    variables: HashMap<String, Variable<'a>>,
    aliases: HashMap<String, String>,
    used: RefCell<HashSet<String>>,
}

impl<'a> Ct2Model<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Ct2Model<'a>> {
        let mut r = Reader { data, pos: 0 };
        let version = r.u32()?;
        if version < 4 {
            return bad(format!("CTranslate2 binary version {version} is too old (need >= 4)"));
        }
        let spec = r.string()?;
        let revision = r.u32()?;
        if spec != "WhisperSpec" {
            return bad(format!("not a Whisper model: spec is {spec:?}"));
        }
        if revision > 3 {
            tracing::warn!(revision, "WhisperSpec revision is newer than 3");
        }

        let count = r.u32()?;
        let mut variables = HashMap::new();
        for _ in 0..count {
            let name = r.string()?;
            let rank = r.u8()? as usize;
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(r.u32()? as usize);
            }
            let dtype_id = r.u8()?;
            let nbytes = r.u32()? as usize;
            let raw = r.take(nbytes)?;
            let dtype = DType::from_id(dtype_id)
                .ok_or_else(|| Error::Format(format!("{name}: unknown dtype id {dtype_id}")))?;
            if !nbytes.is_multiple_of(dtype.size()) {
                return bad(format!("{name}: {nbytes} bytes is not a whole number of {dtype:?} values"));
            }
            let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            let have = nbytes / dtype.size();
            if n != Some(have) {
                return bad(format!("{name}: {have} values for shape {shape:?}"));
            }
            variables.insert(name, Variable { shape, dtype, data: raw });
        }

        let mut aliases = HashMap::new();
        if version >= 3 {
            let count = r.u32()?;
            for _ in 0..count {
                let alias = r.string()?;
                let target = r.string()?;
                aliases.insert(alias, target);
            }
        }
        if r.pos != data.len() {
            return bad(format!("model.bin has {} unexpected trailing bytes", data.len() - r.pos));
        }
        Ok(Ct2Model { version, spec, revision, variables, aliases, used: RefCell::new(HashSet::new()) })
    }

    /// A variable by its stored name (aliases not followed, use not recorded).
    pub fn variable(&self, name: &str) -> Option<&Variable<'a>> {
        self.variables.get(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.variables.contains_key(name) || self.aliases.contains_key(name)
    }

    fn raw(&self, name: &str) -> Result<&Variable<'a>> {
        let name = self.aliases.get(name).map_or(name, |s| s.as_str());
        let v = self.variables.get(name).ok_or_else(|| Error::Format(format!("model.bin has no variable {name:?}")))?;
        self.used.borrow_mut().insert(name.to_string());
        Ok(v)
    }

    /// The variable with float16 kept as is and everything else as float32
    /// (int8 weights dequantized with their per-row "_scale").
    fn get(&self, name: &str) -> Result<Tensor<'a>> {
        let v = self.raw(name)?;
        if v.dtype != DType::I8 {
            return Ok(Tensor { shape: v.shape.clone(), src: Src::Plain(v.dtype, v.data) });
        }
        let s = self.raw(&format!("{name}_scale"))?;
        let scale: Rc<[f32]> = (0..s.numel()).map(|i| s.f32_at(i)).collect();
        let rows = match v.shape.first() {
            Some(&r) => r,
            None => return bad(format!("{name}: int8 scalar weights are not supported")),
        };
        // numpy broadcasting of scale.reshape(-1, 1, ...) against the weight.
        if scale.len() != rows && scale.len() != 1 {
            return bad(format!("{name}: {} scales for {rows} rows", scale.len()));
        }
        let row_len = v.shape[1..].iter().product();
        Ok(Tensor { shape: v.shape.clone(), src: Src::Dequant { q: v.data, scale, first_row: 0, row_len } })
    }

    /// int() of a one-element variable.
    fn scalar(&self, name: &str) -> Result<i64> {
        let v = self.raw(name)?;
        if v.numel() != 1 {
            return bad(format!("{name}: expected a scalar, got shape {:?}", v.shape));
        }
        let x = v.f64_at(0);
        if !x.is_finite() {
            return bad(format!("{name}: {x} is not an integer"));
        }
        Ok(x.trunc() as i64)
    }

    fn count_layers(&self, prefix: &str) -> usize {
        let mut n = 0;
        loop {
            let p = format!("{prefix}/layer_{n}/");
            if !self.variables.keys().any(|k| k.starts_with(&p)) {
                return n;
            }
            n += 1;
        }
    }
}

/// A value as the Python's `get` returns it: float16, or float32 computed
/// element by element from the borrowed bytes.
#[derive(Clone)]
struct Tensor<'a> {
    shape: Vec<usize>,
    src: Src<'a>,
}

#[derive(Clone)]
enum Src<'a> {
    Plain(DType, &'a [u8]),
    Dequant { q: &'a [u8], scale: Rc<[f32]>, first_row: usize, row_len: usize },
}

impl Tensor<'_> {
    fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    fn f32_at(&self, i: usize) -> f32 {
        match &self.src {
            &Src::Plain(dtype, data) => Variable { shape: Vec::new(), dtype, data }.f32_at(i),
            Src::Dequant { q, scale, first_row, row_len } => {
                let s = if scale.len() == 1 { scale[0] } else { scale[first_row + i / row_len] };
                (q[i] as i8 as f32) / s
            }
        }
    }

    /// np.split(x, parts, axis=0): equal, contiguous pieces.
    fn split0(&self, parts: usize) -> Result<Vec<Self>> {
        let rows = match self.shape.first() {
            Some(&r) if r % parts == 0 => r,
            _ => return bad(format!("cannot split shape {:?} in {parts} equal parts", self.shape)),
        };
        let per = rows / parts;
        let mut shape = self.shape.clone();
        shape[0] = per;
        let row_elems: usize = self.shape[1..].iter().product();
        Ok((0..parts)
            .map(|k| {
                let (a, b) = (k * per * row_elems, (k + 1) * per * row_elems);
                let src = match &self.src {
                    &Src::Plain(dt, data) => Src::Plain(dt, &data[a * dt.size()..b * dt.size()]),
                    Src::Dequant { q, scale, first_row, row_len } => Src::Dequant {
                        q: &q[a..b],
                        scale: scale.clone(),
                        first_row: first_row + k * per,
                        row_len: *row_len,
                    },
                };
                Tensor { shape: shape.clone(), src }
            })
            .collect())
    }

    fn any_nonzero(&self) -> bool {
        (0..self.numel()).any(|i| self.f32_at(i) != 0.0)
    }

    /// Writes the values as little-endian float16 or float32.
    fn write_as<W: Write>(&self, out: &mut W, as_f16: bool) -> io::Result<()> {
        match self.src {
            // Same type out as in: the bytes as they are (numpy copies bits).
            Src::Plain(DType::F16, data) if as_f16 => return out.write_all(data),
            Src::Plain(DType::F32, data) if !as_f16 => return out.write_all(data),
            _ => {}
        }
        const CHUNK: usize = 1 << 16;
        let n = self.numel();
        let mut buf = Vec::with_capacity(CHUNK * 4);
        let mut start = 0;
        while start < n {
            let end = n.min(start + CHUNK);
            buf.clear();
            for i in start..end {
                let v = self.f32_at(i);
                if as_f16 {
                    buf.extend_from_slice(&f32_to_f16(v).to_le_bytes());
                } else {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
            }
            out.write_all(&buf)?;
            start = end;
        }
        Ok(())
    }
}

// --------------------------------------------------------------------------
// Mel filters (.npy inside an .npz)
// --------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub struct NpyHeader {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Where the array data starts in the .npy bytes.
    pub data_offset: usize,
}

/// Parses the header of a .npy file (format versions 1, 2 and 3): magic,
/// version, header length, then a Python dict literal with 'descr',
/// 'fortran_order' and 'shape'.
pub fn parse_npy_header(npy: &[u8]) -> Result<NpyHeader> {
    if npy.len() < 10 || &npy[..6] != b"\x93NUMPY" {
        return bad("not a .npy file (bad magic)");
    }
    let (len, start) = match npy[6] {
        1 => (u16::from_le_bytes([npy[8], npy[9]]) as usize, 10),
        2 | 3 if npy.len() >= 12 => (le_u32(&npy[8..12], 0) as usize, 12),
        v => return bad(format!(".npy format version {v} is not supported")),
    };
    let header = npy.get(start..start + len).ok_or_else(|| Error::Format(".npy header is truncated".into()))?;
    let text = std::str::from_utf8(header).map_err(|_| Error::Format(".npy header is not text".into()))?;
    let mut p = DictParser { s: text.as_bytes(), i: 0 };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    p.expect(b'{')?;
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        match key.as_str() {
            "descr" => descr = Some(p.string()?),
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            _ => return bad(format!(".npy header has an unexpected key {key:?}")),
        }
        p.ws();
        if !p.eat(b',') {
            p.ws();
            p.expect(b'}')?;
            break;
        }
    }
    match (descr, fortran, shape) {
        (Some(descr), Some(fortran_order), Some(shape)) => {
            Ok(NpyHeader { descr, fortran_order, shape, data_offset: start + len })
        }
        _ => bad(".npy header lacks descr, fortran_order or shape"),
    }
}

struct DictParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl DictParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        if self.eat(c) { Ok(()) } else { bad(format!(".npy header: expected {:?} at {}", c as char, self.i)) }
    }

    fn string(&mut self) -> Result<String> {
        let q = match self.s.get(self.i) {
            Some(&q) if q == b'\'' || q == b'"' => q,
            _ => return bad(format!(".npy header: expected a string at {}", self.i)),
        };
        let start = self.i + 1;
        let end = start
            + self.s[start..]
                .iter()
                .position(|&c| c == q)
                .ok_or_else(|| Error::Format(".npy header: unterminated string".into()))?;
        self.i = end + 1;
        Ok(String::from_utf8_lossy(&self.s[start..end]).into_owned())
    }

    fn boolean(&mut self) -> Result<bool> {
        for (word, v) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.s[self.i..].starts_with(word) {
                self.i += word.len();
                return Ok(v);
            }
        }
        bad(format!(".npy header: expected True or False at {}", self.i))
    }

    fn tuple(&mut self) -> Result<Vec<usize>> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            let n = std::str::from_utf8(&self.s[start..self.i]).ok().and_then(|t| t.parse().ok());
            dims.push(n.ok_or_else(|| Error::Format(format!(".npy header: bad dimension at {start}")))?);
            self.ws();
            if !self.eat(b',') {
                self.ws();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// A 2-D float32 filter bank, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct MelFilters {
    pub n_mels: usize,
    pub n_fft_bins: usize,
    pub data: Vec<f32>,
}

/// `npz[key].astype(float32) + float32(0)` from a 2-D float .npy.
pub fn mel_filters_from_npy(npy: &[u8]) -> Result<MelFilters> {
    let h = parse_npy_header(npy)?;
    let (rows, cols) = match h.shape[..] {
        [r, c] => (r, c),
        _ => return bad(format!("mel filters have shape {:?}, expected 2-D", h.shape)),
    };
    let d = h.descr.as_bytes();
    let (big, size) = match (d.first(), &d[1.min(d.len())..]) {
        (Some(b'<' | b'=' | b'|'), b"f2" | b"f4" | b"f8") => (false, (d[2] - b'0') as usize),
        (Some(b'>'), b"f2" | b"f4" | b"f8") => (true, (d[2] - b'0') as usize),
        _ => return bad(format!("mel filters have dtype {:?}, expected a float type", h.descr)),
    };
    let n = rows * cols;
    let data = npy
        .get(h.data_offset..h.data_offset + n * size)
        .ok_or_else(|| Error::Format("mel filter data is truncated".into()))?;
    let value = |i: usize| -> f32 {
        let mut b = [0u8; 8];
        b[..size].copy_from_slice(&data[i * size..(i + 1) * size]);
        if big {
            b[..size].reverse();
        }
        match size {
            2 => f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            4 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            _ => f64::from_le_bytes(b) as f32,
        }
    };
    let mut out = Vec::with_capacity(n);
    for r in 0..rows {
        for c in 0..cols {
            let i = if h.fortran_order { c * rows + r } else { r * cols + c };
            // "+ 0.0" turns -0.0 into +0.0, as the official files have it.
            out.push(value(i) + 0.0);
        }
    }
    Ok(MelFilters { n_mels: rows, n_fft_bins: cols, data: out })
}

/// The `mel_{n_mels}` array of openai-whisper's mel_filters.npz (a zip of
/// .npy files).
pub fn mel_filters_from_npz(npz: &[u8], n_mels: usize) -> Result<MelFilters> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(npz)).map_err(|e| Error::Format(format!("mel filters: not an npz: {e}")))?;
    let key = format!("mel_{n_mels}");
    let mut member = match zip.by_name(&format!("{key}.npy")) {
        Ok(m) => m,
        Err(zip::result::ZipError::FileNotFound) => return bad(format!("mel_filters.npz has no {key}")),
        Err(e) => return bad(format!("mel_filters.npz: {e}")),
    };
    let mut npy = Vec::with_capacity(member.size() as usize);
    member.read_to_end(&mut npy)?;
    mel_filters_from_npy(&npy)
}

// --------------------------------------------------------------------------
// Vocabulary
// --------------------------------------------------------------------------

/// GPT-2's byte-level stand-ins back to bytes: printable Latin-1 bytes stand
/// for themselves; the other 68, in ascending order, take U+0100 onwards.
fn byte_level_decoder() -> HashMap<char, u8> {
    let printable = |b: u32| (0x21..0x7f).contains(&b) || (0xa1..0xad).contains(&b) || (0xae..0x100).contains(&b);
    let mut map = HashMap::with_capacity(256);
    let mut extra = 0;
    for b in 0u32..256 {
        if printable(b) {
            map.insert(char::from_u32(b).unwrap(), b as u8);
        } else {
            map.insert(char::from_u32(0x100 + extra).unwrap(), b as u8);
            extra += 1;
        }
    }
    map
}

/// The first 50257 tokens of vocabulary.txt (one token a line) as raw bytes.
pub fn parse_vocabulary(text: &[u8]) -> Result<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(text).map_err(|e| Error::Format(format!("vocabulary.txt is not UTF-8: {e}")))?;
    // Split on "\n" only (no newline translation), dropping the final newline.
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    if lines.len() < GPT2_VOCAB_SIZE || !lines.contains(&"<|endoftext|>") {
        return bad("vocabulary.txt is not a Whisper vocabulary");
    }
    let decoder = byte_level_decoder();
    let mut tokens = Vec::with_capacity(GPT2_VOCAB_SIZE);
    for (i, line) in lines[..GPT2_VOCAB_SIZE].iter().enumerate() {
        if line.starts_with("<|") && *line != "<|endoftext|>" {
            return bad(format!("unexpected special token {line:?} at id {i}"));
        }
        let bytes: Option<Vec<u8>> = line.chars().map(|c| decoder.get(&c).copied()).collect();
        tokens.push(bytes.ok_or_else(|| Error::Format(format!("token {i} {line:?} is not byte-level BPE text")))?);
    }
    Ok(tokens)
}

// --------------------------------------------------------------------------
// CT2 names -> OpenAI names, in the order of OpenAI's checkpoints (which is
// what makes the output identical to the official ggml files).
// --------------------------------------------------------------------------

type Named<'a> = Vec<(String, Tensor<'a>)>;

impl<'a> Ct2Model<'a> {
    fn linear(&self, src: &str, dst: &str, parts: Option<&[&str]>, out: &mut Named<'a>) -> Result<()> {
        let weight = self.get(&format!("{src}/weight"))?;
        let bias_name = format!("{src}/bias");
        let bias = if self.has(&bias_name) { Some(self.get(&bias_name)?) } else { None };
        let Some(parts) = parts else {
            out.push((format!("{dst}.weight"), weight));
            if let Some(b) = bias {
                out.push((format!("{dst}.bias"), b));
            }
            return Ok(());
        };
        let weights = weight.split0(parts.len())?;
        let biases = match &bias {
            Some(b) => b.split0(parts.len())?.into_iter().map(Some).collect(),
            None => vec![None; parts.len()],
        };
        for ((part, w), b) in parts.iter().zip(weights).zip(biases) {
            out.push((format!("{dst}.{part}.weight"), w));
            match b {
                // Whisper's key projection has no bias (CT2 stores zeros).
                Some(b) if *part != "key" => out.push((format!("{dst}.{part}.bias"), b)),
                Some(b) if b.any_nonzero() => {
                    tracing::info!(%src, "dropping a non-zero key bias (attention is invariant to it)")
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn layer_norm(&self, src: &str, dst: &str, out: &mut Named<'a>) -> Result<()> {
        out.push((format!("{dst}.weight"), self.get(&format!("{src}/gamma"))?));
        out.push((format!("{dst}.bias"), self.get(&format!("{src}/beta"))?));
        Ok(())
    }

    fn block(&self, src: &str, dst: &str, cross: bool, out: &mut Named<'a>) -> Result<()> {
        self.layer_norm(&format!("{src}/ffn/layer_norm"), &format!("{dst}.mlp_ln"), out)?;
        self.linear(&format!("{src}/ffn/linear_0"), &format!("{dst}.mlp.0"), None, out)?;
        self.linear(&format!("{src}/ffn/linear_1"), &format!("{dst}.mlp.2"), None, out)?;
        self.layer_norm(&format!("{src}/self_attention/layer_norm"), &format!("{dst}.attn_ln"), out)?;
        self.linear(
            &format!("{src}/self_attention/linear_0"),
            &format!("{dst}.attn"),
            Some(&["query", "key", "value"]),
            out,
        )?;
        self.linear(&format!("{src}/self_attention/linear_1"), &format!("{dst}.attn.out"), None, out)?;
        if cross {
            self.layer_norm(&format!("{src}/attention/layer_norm"), &format!("{dst}.cross_attn_ln"), out)?;
            self.linear(&format!("{src}/attention/linear_0"), &format!("{dst}.cross_attn.query"), None, out)?;
            self.linear(
                &format!("{src}/attention/linear_1"),
                &format!("{dst}.cross_attn"),
                Some(&["key", "value"]),
                out,
            )?;
            self.linear(&format!("{src}/attention/linear_2"), &format!("{dst}.cross_attn.out"), None, out)?;
        }
        Ok(())
    }

    fn openai_tensors(&self) -> Result<Named<'a>> {
        let mut out = vec![
            ("decoder.positional_embedding".to_string(), self.get("decoder/position_encodings/encodings")?),
            ("encoder.positional_embedding".to_string(), self.get("encoder/position_encodings/encodings")?),
            ("decoder.token_embedding.weight".to_string(), self.get("decoder/embeddings/weight")?),
        ];
        for i in 0..self.count_layers("decoder") {
            self.block(&format!("decoder/layer_{i}"), &format!("decoder.blocks.{i}"), true, &mut out)?;
        }
        self.layer_norm("decoder/layer_norm", "decoder.ln", &mut out)?;
        for conv in ["conv1", "conv2"] {
            out.push((format!("encoder.{conv}.weight"), self.get(&format!("encoder/{conv}/weight"))?));
            out.push((format!("encoder.{conv}.bias"), self.get(&format!("encoder/{conv}/bias"))?));
        }
        for i in 0..self.count_layers("encoder") {
            self.block(&format!("encoder/layer_{i}"), &format!("encoder.blocks.{i}"), false, &mut out)?;
        }
        self.layer_norm("encoder/layer_norm", "encoder.ln_post", &mut out)?;
        Ok(out)
    }

    /// Refuses CT2 variants whisper.cpp's graph cannot express.
    fn check_layout(&self) -> Result<()> {
        for (name, want) in [("decoder/pre_norm", 1), ("decoder/alibi", 0), ("decoder/scale_embeddings", 0)] {
            if self.has(name) {
                let v = self.scalar(name)?;
                if v != want {
                    return bad(format!("unsupported model: {name} = {v}"));
                }
            }
        }
        // whisper.cpp ties the output projection to the token embedding
        // (np.array_equal: same shape, equal values).
        if let Some(proj) = self.variables.get("decoder/projection/weight") {
            let emb = self
                .variables
                .get("decoder/embeddings/weight")
                .ok_or_else(|| Error::Format("model.bin has no variable \"decoder/embeddings/weight\"".into()))?;
            let equal = proj.shape == emb.shape && (0..proj.numel()).all(|i| proj.f64_at(i) == emb.f64_at(i));
            if !equal {
                return bad("the output projection is not tied to the token embedding");
            }
        }
        Ok(())
    }

    fn dims(&self, name: &str, want: usize) -> Result<Vec<usize>> {
        let v = self.raw(name)?;
        if v.shape.len() < want {
            return bad(format!("{name}: shape {:?} has fewer than {want} dimensions", v.shape));
        }
        Ok(v.shape.clone())
    }
}

// --------------------------------------------------------------------------
// Writing the ggml file
// --------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Summary {
    /// In the order of HPARAM_NAMES.
    pub hparams: [i32; 11],
    pub n_tokens: usize,
    pub n_tensors: usize,
    /// Size and SHA-256 (hex) of what was written.
    pub bytes: u64,
    pub sha256: String,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, v) in HPARAM_NAMES.iter().zip(self.hparams) {
            write!(f, "{n}={v} ")?;
        }
        write!(f, "{} tokens, {} tensors, {} bytes", self.n_tokens, self.n_tensors, self.bytes)
    }
}

fn i32_of(what: &str, v: impl TryInto<i32> + Copy + fmt::Display) -> Result<i32> {
    v.try_into().map_err(|_| Error::Format(format!("{what} = {v} does not fit an i32")))
}

/// Converts in memory: model.bin bytes, vocabulary.txt bytes, mel_filters.npz
/// bytes -> ggml written to `out`. Every check happens before the first byte
/// is written.
pub fn convert<W: Write>(model_bin: &[u8], vocabulary_txt: &[u8], mel_npz: &[u8], out: &mut W) -> Result<Summary> {
    let ct2 = Ct2Model::parse(model_bin)?;
    ct2.check_layout()?;
    let n_mels = ct2.dims("encoder/conv1/weight", 2)?[1];
    let filters = mel_filters_from_npz(mel_npz, n_mels)?;
    let tokens = parse_vocabulary(vocabulary_txt)?;

    let emb = ct2.dims("decoder/embeddings/weight", 2)?;
    let enc_pos = ct2.dims("encoder/position_encodings/encodings", 2)?;
    if emb.len() != 2 || enc_pos.len() != 2 {
        return bad("the token embedding and the encoder positions must be 2-D");
    }
    let n_text_ctx = ct2.dims("decoder/position_encodings/encodings", 1)?[0];
    let hp: [i64; 11] = [
        emb[0] as i64,
        enc_pos[0] as i64,
        enc_pos[1] as i64,
        ct2.scalar("encoder/num_heads")?,
        ct2.count_layers("encoder") as i64,
        n_text_ctx as i64,
        emb[1] as i64,
        ct2.scalar("decoder/num_heads")?,
        ct2.count_layers("decoder") as i64,
        n_mels as i64,
        1, // ftype: matrices in float16
    ];
    let mut hparams = [0i32; 11];
    for (k, v) in hp.iter().enumerate() {
        hparams[k] = i32_of(HPARAM_NAMES[k], *v)?;
    }
    if filters.n_mels != n_mels {
        return bad(format!("mel filters have {} bins, the model wants {n_mels}", filters.n_mels));
    }
    if tokens.len() >= emb[0] {
        return bad(format!("vocabulary ({} tokens) does not fit n_vocab {}", tokens.len(), emb[0]));
    }

    let tensors = ct2.openai_tensors()?;
    let used = ct2.used.borrow();
    let mut unused: Vec<&str> = ct2
        .variables
        .iter()
        .filter(|(k, v)| !v.shape.is_empty() && !used.contains(*k) && *k != "decoder/projection/weight")
        .map(|(k, _)| k.as_str())
        .collect();
    if !unused.is_empty() {
        unused.sort_unstable();
        return bad(format!("model.bin tensors not converted: {}", unused.join(", ")));
    }

    // Buffer outside the hasher so it hashes large blocks.
    let mut w = BufWriter::with_capacity(1 << 20, HashingWriter::new(out));
    let put = |w: &mut BufWriter<_>, v: i32| w.write_all(&v.to_le_bytes());
    put(&mut w, GGML_MAGIC)?;
    for v in hparams {
        put(&mut w, v)?;
    }
    put(&mut w, i32_of("n_mels", filters.n_mels)?)?;
    put(&mut w, i32_of("n_fft_bins", filters.n_fft_bins)?)?;
    for v in &filters.data {
        w.write_all(&v.to_le_bytes())?;
    }
    put(&mut w, i32_of("token count", tokens.len())?)?;
    for t in &tokens {
        put(&mut w, i32_of("token length", t.len())?)?;
        w.write_all(t)?;
    }

    for (name, t) in &tensors {
        // squeeze(); the conv biases then become [n_state, 1].
        let mut shape: Vec<usize> = t.shape.iter().copied().filter(|&d| d != 1).collect();
        let is_conv_bias = name == "encoder.conv1.bias" || name == "encoder.conv2.bias";
        if is_conv_bias {
            match shape.first() {
                Some(&n) if n == t.numel() => shape = vec![n, 1],
                _ => return bad(format!("{name}: cannot make shape {:?} a column", t.shape)),
            }
        }
        // Vectors, conv biases and positional embeddings stay float32;
        // matrices and conv kernels are float16.
        let keep_f32 = shape.len() < 2 || is_conv_bias || name.ends_with("positional_embedding");
        let raw_name = name.as_bytes();
        put(&mut w, i32_of("n_dims", shape.len())?)?;
        put(&mut w, i32_of("name length", raw_name.len())?)?;
        put(&mut w, if keep_f32 { 0 } else { 1 })?;
        for &d in shape.iter().rev() {
            put(&mut w, i32_of("dimension", d)?)?;
        }
        w.write_all(raw_name)?;
        t.write_as(&mut w, !keep_f32)?;
    }

    let hashing = w.into_inner().map_err(|e| e.into_error())?;
    let (out, bytes, sha256) = hashing.finish();
    out.flush()?;
    Ok(Summary { hparams, n_tokens: tokens.len(), n_tensors: tensors.len(), bytes, sha256 })
}

/// The script's command line: <ct2_model_dir>/{model.bin,vocabulary.txt},
/// mel_filters.npz -> `out`, written beside it first, synced, then renamed;
/// on error no file is left.
pub fn convert_files(model_dir: &Path, mel_npz: &Path, out: &Path) -> Result<Summary> {
    let model_bin = fs::read(model_dir.join("model.bin"))?;
    let vocabulary = fs::read(model_dir.join("vocabulary.txt"))?;
    let mel = fs::read(mel_npz)?;
    let tmp = TempPath::beside(out);
    let mut file = fs::File::create(tmp.path())?;
    let summary = convert(&model_bin, &vocabulary, &mel, &mut file)?;
    drop(model_bin);
    file.sync_all()?;
    drop(file);
    tmp.persist(out)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        // Pad so magic + version + len + header + '\n' is a multiple of 64.
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(h.len() as u16).to_le_bytes());
        v.extend_from_slice(h.as_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn npy_header_v1() {
        let b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (80, 201), }", &[]);
        let h = parse_npy_header(&b).unwrap();
        assert_eq!(h.descr, "<f4");
        assert!(!h.fortran_order);
        assert_eq!(h.shape, vec![80, 201]);
        assert_eq!(h.data_offset, b.len());
        assert_eq!(h.data_offset % 64, 0);
    }

    #[test]
    fn npy_header_shapes_and_v2() {
        for (shape, want) in [("()", vec![]), ("(5,)", vec![5]), ("(2, 3, 4)", vec![2, 3, 4])] {
            let b = npy(&format!("{{'descr': '>f8', 'fortran_order': True, 'shape': {shape}}}"), &[]);
            let h = parse_npy_header(&b).unwrap();
            assert_eq!(h.shape, want);
            assert!(h.fortran_order);
        }
        let text = "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 2), }\n";
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&(text.len() as u32).to_le_bytes());
        v2.extend_from_slice(text.as_bytes());
        let h = parse_npy_header(&v2).unwrap();
        assert_eq!((h.descr.as_str(), h.shape, h.data_offset), ("<f2", vec![1, 2], 12 + text.len()));
    }

    #[test]
    fn npy_header_errors() {
        assert!(parse_npy_header(b"PK\x03\x04 not npy").is_err());
        let mut b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", &[]);
        b.truncate(20);
        assert!(parse_npy_header(&b).unwrap_err().to_string().contains("truncated"));
        let b = npy("{'descr': '<f4', 'shape': (3,), }", &[]);
        assert!(parse_npy_header(&b).is_err());
    }

    #[test]
    fn npy_filters_fortran_and_negative_zero() {
        // [[1, 2], [3, -0.0]] stored column-major as big-endian f8.
        let vals = [1.0f64, 3.0, 2.0, -0.0];
        let data: Vec<u8> = vals.iter().flat_map(|v| v.to_be_bytes()).collect();
        let b = npy("{'descr': '>f8', 'fortran_order': True, 'shape': (2, 2), }", &data);
        let m = mel_filters_from_npy(&b).unwrap();
        assert_eq!((m.n_mels, m.n_fft_bins), (2, 2));
        assert_eq!(m.data, vec![1.0, 2.0, 3.0, 0.0]);
        assert_eq!(m.data[3].to_bits(), 0, "-0.0 must become +0.0");
    }

    #[test]
    fn half_conversions_match_round_to_nearest_even() {
        for h in 0u16..=0xffff {
            let f = f16_to_f32(h);
            if f.is_nan() {
                assert!(f32_to_f16(f) & 0x7fff > 0x7c00);
                continue;
            }
            assert_eq!(f32_to_f16(f), h, "round trip of {h:#06x}");
        }
        // Exact midpoints go to the even neighbour; anything past them goes up.
        for h in 0u16..0x7bff {
            let (a, b) = (f16_to_f32(h) as f64, f16_to_f32(h + 1) as f64);
            let mid = ((a + b) / 2.0) as f32;
            let even = if h % 2 == 0 { h } else { h + 1 };
            assert_eq!(f32_to_f16(mid), even, "midpoint after {h:#06x}");
            assert_eq!(f32_to_f16(f32::from_bits(mid.to_bits() + 1)), h + 1);
            assert_eq!(f32_to_f16(f32::from_bits(mid.to_bits() - 1)), h);
            assert_eq!(f32_to_f16(-mid), even | 0x8000);
        }
        assert_eq!(f32_to_f16(65519.0), 0x7bff);
        assert_eq!(f32_to_f16(65520.0), 0x7c00);
        assert_eq!(f32_to_f16(1e-9), 0);
        assert_eq!(f16_to_f32(1), 2f32.powi(-24));
    }

    /// A minimal model.bin: header, the given variables, no aliases.
    fn ct2_bytes(vars: &[(&str, &[u32], u8, &[u8])]) -> Vec<u8> {
        fn s(out: &mut Vec<u8>, t: &str) {
            out.extend_from_slice(&((t.len() + 1) as u16).to_le_bytes());
            out.extend_from_slice(t.as_bytes());
            out.push(0);
        }
        let mut b = 6u32.to_le_bytes().to_vec();
        s(&mut b, "WhisperSpec");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&(vars.len() as u32).to_le_bytes());
        for (name, shape, dtype, data) in vars {
            s(&mut b, name);
            b.push(shape.len() as u8);
            for d in *shape {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.push(*dtype);
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(data);
        }
        b.extend_from_slice(&0u32.to_le_bytes());
        b
    }

    #[test]
    fn parses_a_small_model() {
        let b = ct2_bytes(&[("encoder/num_heads", &[], 3, &6i32.to_le_bytes()), ("x", &[2, 2], 4, &[0; 8])]);
        let m = Ct2Model::parse(&b).unwrap();
        assert_eq!(m.scalar("encoder/num_heads").unwrap(), 6);
        assert_eq!(m.variable("x").unwrap().shape, vec![2, 2]);
    }

    #[test]
    fn truncated_model_is_a_clear_error() {
        let b = ct2_bytes(&[("encoder/num_heads", &[], 3, &6i32.to_le_bytes()), ("x", &[4, 4], 4, &[0; 32])]);
        // Cut inside the second variable's data, and inside its header.
        for cut in [b.len() - 10, b.len() - 40, 5, 0] {
            let err = Ct2Model::parse(&b[..cut]).err().expect("truncated input must fail");
            let msg = err.to_string();
            assert!(msg.contains("model.bin is truncated"), "{msg}");
            assert!(msg.contains(&format!("file is {cut} bytes")), "{msg}");
        }
        // A whole file also refuses trailing garbage.
        let mut longer = b.clone();
        longer.push(0);
        assert!(Ct2Model::parse(&longer).err().unwrap().to_string().contains("trailing"));
    }

    #[test]
    fn int8_weights_are_dequantized_per_row_and_split() {
        let q: Vec<u8> = [2i8, -4, 6, 8].iter().map(|&v| v as u8).collect();
        let scale: Vec<u8> = [2.0f32, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = ct2_bytes(&[("w/weight", &[2, 2], 1, &q), ("w/weight_scale", &[2], 0, &scale)]);
        let m = Ct2Model::parse(&b).unwrap();
        let t = m.get("w/weight").unwrap();
        let vals: Vec<f32> = (0..4).map(|i| t.f32_at(i)).collect();
        assert_eq!(vals, vec![1.0, -2.0, 1.5, 2.0]);
        let halves = t.split0(2).unwrap();
        assert_eq!(halves[1].f32_at(0), 1.5);
        let mut out = Vec::new();
        halves[1].write_as(&mut out, true).unwrap();
        assert_eq!(out, [f32_to_f16(1.5).to_le_bytes(), f32_to_f16(2.0).to_le_bytes()].concat());
    }

    #[test]
    fn vocabulary_decodes_byte_level_text() {
        let mut lines: Vec<String> = (0..GPT2_VOCAB_SIZE - 1).map(|i| format!("t{i}")).collect();
        lines[0] = "Ġhello".into(); // U+0120 stands for the space
        lines[1] = "Ċ".into(); // U+010A stands for "\n"
        lines.push("<|endoftext|>".into());
        lines.push("<|startoftranscript|>".into());
        let text = lines.join("\n") + "\n";
        let tokens = parse_vocabulary(text.as_bytes()).unwrap();
        assert_eq!(tokens.len(), GPT2_VOCAB_SIZE);
        assert_eq!(tokens[0], b" hello");
        assert_eq!(tokens[1], b"\n");
        assert_eq!(tokens[GPT2_VOCAB_SIZE - 1], b"<|endoftext|>");
        assert!(parse_vocabulary(b"a\nb\n").is_err());
    }
}
