//! Byte sizes as written in `runall.toml` and on the command line (`max_memory = "8GiB"`,
//! `--max-memory 512MiB`, `scrollback_memory = "32MiB"`): a whole or decimal number and a unit
//! (`B`, `KiB`/`K`/`KB`, `MiB`/`M`/`MB`, `GiB`/`G`/`GB`, `TiB`/`T`/`TB`; all binary, case does
//! not matter, a space allowed), or a bare number of bytes. Pure.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// The largest size accepted: 1 PiB (nothing runall bounds is larger).
pub const MAX_SIZE: u64 = 1 << 50;

/// Parses `text` into bytes; the error says what is wrong.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let invalid =
        || format!("invalid size `{text}`: write a number and a unit, like \"8GiB\" or \"512MiB\"");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(invalid()),
    };
    let bytes = (value * (1u64 << shift) as f64).round();
    if !(1.0..=MAX_SIZE as f64).contains(&bytes) {
        return Err(format!(
            "invalid size `{text}`: must be from 1 byte to 1 PiB"
        ));
    }
    Ok(bytes as u64)
}

/// A size setting: a string with a unit, or a whole number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawSize(pub(super) u64);

impl<'de> serde::Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl Visitor<'_> for SizeVisitor {
            type Value = RawSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"8GiB\" or \"512MiB\", or a number of bytes")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSize, E> {
                parse_size(v).map(RawSize).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSize, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSize, E> {
                self.visit_str(&v.to_string())
            }
        }

        deserializer.deserialize_any(SizeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_a_table() {
        let cases: [(&str, Option<u64>); 14] = [
            ("8GiB", Some(8 << 30)),
            ("8 GiB", Some(8 << 30)),
            ("8g", Some(8 << 30)),
            ("512MiB", Some(512 << 20)),
            ("512MB", Some(512 << 20)),
            ("1.5G", Some(3 << 29)),
            ("64k", Some(64 << 10)),
            ("4096", Some(4096)),
            ("4096B", Some(4096)),
            ("", None),
            ("GiB", None),
            ("8 parsecs", None),
            ("0", None),
            ("2048TiB", None),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text).ok(), bytes, "{text:?}");
        }
        assert!(parse_size("8X").unwrap_err().contains("`8X`"));
    }
}
