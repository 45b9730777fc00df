//! Reading maps from NumPy `.npy` files and `.npz` archives.
//!
//! Only what a map needs: a 2-D array of float32, float64, complex or
//! integer values, in either byte order and either memory order
//! (Fortran-ordered arrays are transposed to row-major).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use stdann_cortex::Complex64;

/// Why a file did not yield a map. The CLI puts the file's name beside it.
#[derive(Debug, thiserror::Error)]
pub enum MapFileError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a NumPy .npy array: {0}")]
    NotNpy(String),
    #[error("unsupported dtype '{0}': a map holds float32, float64, complex or integer angles")]
    Dtype(String),
    #[error("expected a 2-D map, got shape {0:?}")]
    Dimensions(Vec<usize>),
    #[error("truncated: the header promises {expected} bytes of data, the file holds {found}")]
    Truncated { expected: usize, found: usize },
    #[error("not a valid .npz archive: {0}")]
    Npz(String),
    #[error("{0}")]
    Key(String),
}

/// The values of a map as the core reads them.
#[derive(Debug, Clone, PartialEq)]
pub enum MapValues {
    F32(Vec<f32>),
    F64(Vec<f64>),
    Complex(Vec<Complex64>),
}

/// A 2-D array read from a file, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct MapArray {
    pub height: usize,
    pub width: usize,
    pub values: MapValues,
}

/// Reads `path` as `.npz` (by extension) or `.npy`. In an archive, `key`
/// names the array; without it the archive must hold exactly one.
pub fn read_map(path: &Path, key: Option<&str>) -> Result<MapArray, MapFileError> {
    let is_npz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
    if is_npz {
        read_npz(path, key)
    } else {
        let mut bytes = Vec::new();
        File::open(path)?.read_to_end(&mut bytes)?;
        parse_npy(&bytes)
    }
}

fn read_npz(path: &Path, key: Option<&str>) -> Result<MapArray, MapFileError> {
    let npz_error = |e: zip::result::ZipError| MapFileError::Npz(e.to_string());
    let mut archive = zip::ZipArchive::new(File::open(path)?).map_err(npz_error)?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.strip_suffix(".npy"))
        .map(str::to_owned)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    let chosen = match key {
        Some(k) if names.iter().any(|n| n == k) => k.to_owned(),
        Some(k) => {
            return Err(MapFileError::Key(format!(
                "the archive has no array '{k}' (it holds: {})",
                sorted.join(", ")
            )))
        }
        None if names.len() == 1 => names[0].clone(),
        None if names.is_empty() => {
            return Err(MapFileError::Npz("the archive holds no .npy arrays".into()))
        }
        None => {
            return Err(MapFileError::Key(format!(
                "the archive holds {} arrays ({}); name one with --key",
                names.len(),
                sorted.join(", ")
            )))
        }
    };
    let mut entry = archive
        .by_name(&format!("{chosen}.npy"))
        .map_err(npz_error)?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| MapFileError::Npz(format!("array '{chosen}': {e}")))?;
    parse_npy(&bytes)
}

/// The element type of a `.npy` array, from its `descr`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Element {
    Float(usize),
    Complex(usize),
    Int(usize),
    Uint(usize),
}

/// Parses the bytes of a `.npy` file (format versions 1, 2 and 3).
pub fn parse_npy(bytes: &[u8]) -> Result<MapArray, MapFileError> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(MapFileError::NotNpy(
            "the file does not start with the .npy magic string".into(),
        ));
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => {
            return Err(MapFileError::NotNpy(format!(
                "unknown .npy format version {v}"
            )))
        }
    };
    let data_start = header_start + header_len;
    if bytes.len() < data_start {
        return Err(MapFileError::NotNpy(
            "the header is cut short (file truncated?)".into(),
        ));
    }
    let header = std::str::from_utf8(&bytes[header_start..data_start])
        .map_err(|_| MapFileError::NotNpy("the header is not text".into()))?;
    let descr = header_string(header, "descr")?;
    let fortran = header_field(header, "fortran_order")?.starts_with("True");
    let shape = header_shape(header)?;
    let (big_endian, element) = parse_descr(&descr)?;
    if shape.len() != 2 {
        return Err(MapFileError::Dimensions(shape));
    }
    let (height, width) = (shape[0], shape[1]);
    let size = match element {
        Element::Float(s) | Element::Complex(s) | Element::Int(s) | Element::Uint(s) => s,
    };
    let expected = height
        .checked_mul(width)
        .and_then(|n| n.checked_mul(size))
        .ok_or_else(|| MapFileError::NotNpy(format!("shape {shape:?} is too large")))?;
    let data = &bytes[data_start..];
    if data.len() < expected {
        return Err(MapFileError::Truncated {
            expected,
            found: data.len(),
        });
    }
    let data = &data[..expected];
    let word = |chunk: &[u8]| -> [u8; 8] {
        let mut w = [0u8; 8];
        if big_endian {
            for (k, &b) in chunk.iter().rev().enumerate() {
                w[k] = b;
            }
        } else {
            w[..chunk.len()].copy_from_slice(chunk);
        }
        w
    };
    let values = match element {
        Element::Float(4) => MapValues::F32(
            data.chunks_exact(4)
                .map(|c| {
                    let w = word(c);
                    f32::from_le_bytes([w[0], w[1], w[2], w[3]])
                })
                .collect(),
        ),
        Element::Float(_) => MapValues::F64(
            data.chunks_exact(8)
                .map(|c| f64::from_le_bytes(word(c)))
                .collect(),
        ),
        Element::Complex(8) => MapValues::Complex(
            data.chunks_exact(8)
                .map(|c| {
                    let (re, im) = (word(&c[..4]), word(&c[4..]));
                    Complex64::new(
                        f64::from(f32::from_le_bytes([re[0], re[1], re[2], re[3]])),
                        f64::from(f32::from_le_bytes([im[0], im[1], im[2], im[3]])),
                    )
                })
                .collect(),
        ),
        Element::Complex(_) => MapValues::Complex(
            data.chunks_exact(16)
                .map(|c| {
                    Complex64::new(
                        f64::from_le_bytes(word(&c[..8])),
                        f64::from_le_bytes(word(&c[8..])),
                    )
                })
                .collect(),
        ),
        Element::Int(s) => MapValues::F64(
            data.chunks_exact(s)
                .map(|c| {
                    // Sign-extend from the top byte of the little-endian word.
                    let shift = 64 - 8 * s as u32;
                    ((i64::from_le_bytes(word(c)) << shift) >> shift) as f64
                })
                .collect(),
        ),
        Element::Uint(s) => MapValues::F64(
            data.chunks_exact(s)
                .map(|c| u64::from_le_bytes(word(c)) as f64)
                .collect(),
        ),
    };
    let values = if fortran {
        transpose(values, height, width)
    } else {
        values
    };
    Ok(MapArray {
        height,
        width,
        values,
    })
}

/// Column-major values of a `height` x `width` array in row-major order.
fn transpose(values: MapValues, height: usize, width: usize) -> MapValues {
    fn t<T: Copy>(v: &[T], height: usize, width: usize) -> Vec<T> {
        (0..height * width)
            .map(|i| v[(i % width) * height + i / width])
            .collect()
    }
    match values {
        MapValues::F32(v) => MapValues::F32(t(&v, height, width)),
        MapValues::F64(v) => MapValues::F64(t(&v, height, width)),
        MapValues::Complex(v) => MapValues::Complex(t(&v, height, width)),
    }
}

fn parse_descr(descr: &str) -> Result<(bool, Element), MapFileError> {
    let unsupported = || MapFileError::Dtype(descr.to_owned());
    let mut chars = descr.chars();
    let order = chars.next().ok_or_else(unsupported)?;
    let big_endian = match order {
        '<' | '|' | '=' => false,
        '>' => true,
        _ => return Err(unsupported()),
    };
    let kind = chars.next().ok_or_else(unsupported)?;
    let size: usize = chars.as_str().parse().map_err(|_| unsupported())?;
    let element = match (kind, size) {
        ('f', 4 | 8) => Element::Float(size),
        ('c', 8 | 16) => Element::Complex(size),
        ('i', 1 | 2 | 4 | 8) => Element::Int(size),
        ('u', 1 | 2 | 4 | 8) => Element::Uint(size),
        _ => return Err(unsupported()),
    };
    Ok((big_endian, element))
}

/// The text after `'name':` in the header dictionary.
fn header_field<'a>(header: &'a str, name: &str) -> Result<&'a str, MapFileError> {
    let quoted = format!("'{name}'");
    let at = header
        .find(&quoted)
        .ok_or_else(|| MapFileError::NotNpy(format!("the header has no '{name}'")))?;
    let rest = header[at + quoted.len()..].trim_start();
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| MapFileError::NotNpy(format!("the header's '{name}' has no value")))?;
    Ok(rest.trim_start())
}

fn header_string(header: &str, name: &str) -> Result<String, MapFileError> {
    let value = header_field(header, name)?;
    let bad = || MapFileError::NotNpy(format!("the header's '{name}' is not a string"));
    let quote = value
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')
        .ok_or_else(bad)?;
    let inner = &value[1..];
    let end = inner.find(quote).ok_or_else(bad)?;
    Ok(inner[..end].to_owned())
}

fn header_shape(header: &str) -> Result<Vec<usize>, MapFileError> {
    let value = header_field(header, "shape")?;
    let bad = || MapFileError::NotNpy("the header's shape is not a tuple of sizes".into());
    let inner = value.strip_prefix('(').ok_or_else(bad)?;
    let end = inner.find(')').ok_or_else(bad)?;
    inner[..end]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>().map_err(|_| bad()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1 `.npy` file as NumPy writes it (header padded to 64 bytes).
    fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let order = if fortran { "True" } else { "False" };
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn float64_little_endian_row_major() {
        let vals = [1.5f64, -2.0, 3.25, 4.0, 5.0, 6.0];
        let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let m = parse_npy(&npy("<f8", false, "(2, 3)", &data)).unwrap();
        assert_eq!((m.height, m.width), (2, 3));
        assert_eq!(m.values, MapValues::F64(vals.to_vec()));
    }

    #[test]
    fn big_endian_fortran_float32_is_transposed() {
        // Column-major [[1, 2, 3], [4, 5, 6]] is stored as 1 4 2 5 3 6.
        let stored = [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0];
        let data: Vec<u8> = stored.iter().flat_map(|v| v.to_be_bytes()).collect();
        let m = parse_npy(&npy(">f4", true, "(2, 3)", &data)).unwrap();
        assert_eq!(m.values, MapValues::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    }

    #[test]
    fn integers_and_complex_are_converted() {
        let data: Vec<u8> = [-90i16, 45, 180, -1]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let m = parse_npy(&npy("<i2", false, "(2, 2)", &data)).unwrap();
        assert_eq!(m.values, MapValues::F64(vec![-90.0, 45.0, 180.0, -1.0]));
        let data: Vec<u8> = [1.0f32, -1.0, 0.5, 2.0, 0.0, 0.0, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let m = parse_npy(&npy("<c8", false, "(2, 2)", &data)).unwrap();
        assert_eq!(
            m.values,
            MapValues::Complex(vec![
                Complex64::new(1.0, -1.0),
                Complex64::new(0.5, 2.0),
                Complex64::new(0.0, 0.0),
                Complex64::new(3.0, 4.0)
            ])
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Whatever follows the magic string, parsing returns, never panics.
        #[test]
        fn arbitrary_bytes_never_panic(
            version in 0u8..4,
            header in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
            text in "[ -~]{0,90}",
            shape in "\\(([0-9]{1,20}, ?){0,3}[0-9]{0,20}\\)",
        ) {
            let mut bytes = b"\x93NUMPY".to_vec();
            bytes.push(version);
            bytes.push(0);
            bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(&header);
            let _ = parse_npy(&bytes);
            let _ = parse_npy(&npy("<f8", false, &shape, &header));
            let _ = parse_npy(&npy("<c8", true, &shape, &header));
        }
    }

    #[test]
    fn bad_files_say_why() {
        let err = parse_npy(b"PK\x03\x04 not an npy").unwrap_err();
        assert!(matches!(err, MapFileError::NotNpy(_)), "{err}");
        let err = parse_npy(&npy("|b1", false, "(2, 2)", &[0; 4])).unwrap_err();
        assert!(
            matches!(err, MapFileError::Dtype(ref d) if d == "|b1"),
            "{err}"
        );
        let err = parse_npy(&npy("<f8", false, "(2, 2, 2)", &[0; 64])).unwrap_err();
        assert!(matches!(err, MapFileError::Dimensions(ref s) if s == &[2, 2, 2]));
        let err = parse_npy(&npy("<f8", false, "(4,)", &[0; 32])).unwrap_err();
        assert!(matches!(err, MapFileError::Dimensions(_)));
        let err = parse_npy(&npy("<f8", false, "(3, 3)", &[0; 40])).unwrap_err();
        assert!(
            matches!(
                err,
                MapFileError::Truncated {
                    expected: 72,
                    found: 40
                }
            ),
            "{err}"
        );
        let whole = npy("<f8", false, "(3, 3)", &[0; 72]);
        let err = parse_npy(&whole[..30]).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = parse_npy(&npy("<U3", false, "(2, 2)", &[0; 48])).unwrap_err();
        assert!(err.to_string().contains("unsupported dtype '<U3'"));
    }
}
