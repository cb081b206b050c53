//! Reading reference files: transparent gzip, numbered lines, and the errors that point at them.

use std::io::{BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

use crate::validate::CountryCode;

/// Why a reference file could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The bytes could not be read or decompressed, or are not UTF-8.
    #[error("cannot read the file: {0}")]
    Read(String),
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: LineProblem },
    #[error("JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// An entry of a JSON array (0-based) is unusable.
    #[error("entry {index}: {problem}")]
    Entry { index: usize, problem: LineProblem },
    #[error("the file holds no entries")]
    Empty,
}

/// What is wrong with one line or entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("expected {expected} comma-separated columns, found {found}")]
    Columns { expected: usize, found: usize },
    #[error("`{0}` is not a BIN of 6 to 8 digits")]
    Bin(String),
    #[error("BIN {0} appears twice")]
    DuplicateBin(String),
    #[error("`{0}` is not a funding type (credit, debit, prepaid, charge or empty)")]
    Funding(String),
    #[error("`{0}` is not a two-letter country code")]
    Country(String),
    #[error("`{0}` is not an ASCII domain name (use punycode for international names)")]
    Domain(String),
    #[error("`{0}` is not an IPv4 address as an unsigned 32-bit number")]
    IpNumber(String),
    #[error("the range ends before it starts")]
    ReversedRange,
    #[error(
        "the range starts at or before the end of the previous one (ranges must be sorted and disjoint)"
    )]
    UnsortedRange,
}

impl LineProblem {
    pub(super) fn at(self, line: usize) -> ParseError {
        ParseError::Line {
            line,
            problem: self,
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Wraps `reader` in a gzip decoder when its first bytes say it is compressed.
pub(super) fn open<'a>(reader: impl Read + 'a) -> Result<Box<dyn BufRead + 'a>, ParseError> {
    let mut buffered = BufReader::new(reader);
    let head = buffered.fill_buf().map_err(read_error)?;
    Ok(if head.starts_with(&GZIP_MAGIC) {
        Box::new(BufReader::new(MultiGzDecoder::new(buffered)))
    } else {
        Box::new(buffered)
    })
}

pub(super) fn read_error(error: std::io::Error) -> ParseError {
    ParseError::Read(error.to_string())
}

/// The meaningful lines of a text file with their 1-based numbers: trimmed, without blank lines
/// and `#` comments.
pub(super) fn data_lines<'a>(
    reader: impl Read + 'a,
) -> Result<impl Iterator<Item = Result<(usize, String), ParseError>> + 'a, ParseError> {
    Ok(open(reader)?
        .lines()
        .enumerate()
        .filter_map(|(index, line)| match line {
            Err(error) => Some(Err(read_error(error))),
            Ok(text) => {
                let trimmed = text.trim();
                (!trimmed.is_empty() && !trimmed.starts_with('#'))
                    .then(|| Ok((index + 1, trimmed.to_owned())))
            }
        }))
}

/// Splits a CSV line that has no quoting (none of the shipped formats needs it) into exactly
/// `N` columns.
pub(super) fn columns<const N: usize>(line: &str) -> Result<[&str; N], LineProblem> {
    let parts: Vec<&str> = line.split(',').map(str::trim).collect();
    let found = parts.len();
    parts
        .try_into()
        .map_err(|_| LineProblem::Columns { expected: N, found })
}

/// A country column: empty means unknown. A well-formed code that is not an assigned ISO code
/// (BIN tables use `XK` for Kosovo) is kept as unknown rather than refusing the whole file;
/// anything else is an error.
pub(super) fn country_column(text: &str) -> Result<Option<CountryCode>, LineProblem> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(LineProblem::Country(text.to_owned()));
    }
    Ok(text.to_ascii_uppercase().parse().ok())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, write::GzEncoder};

    use super::*;

    fn collect(bytes: &[u8]) -> Vec<(usize, String)> {
        data_lines(bytes)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn lines_skip_comments_and_blanks_but_keep_numbers() {
        let lines = collect(b"# header\n\n a.com \nb.com\n");
        assert_eq!(lines, [(3, "a.com".to_owned()), (4, "b.com".to_owned())]);
    }

    #[test]
    fn gzip_is_detected_by_magic_bytes() {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(b"x.org\n").unwrap();
        let compressed = encoder.finish().unwrap();
        assert_eq!(collect(&compressed), [(1, "x.org".to_owned())]);
    }

    #[test]
    fn broken_gzip_and_non_utf8_are_read_errors() {
        let result: Result<Vec<_>, _> = data_lines(&[0x1f, 0x8b, 0, 1][..]).unwrap().collect();
        assert!(matches!(result, Err(ParseError::Read(_))));
        let result: Result<Vec<_>, _> = data_lines(&[0xff, 0xfe, b'\n'][..]).unwrap().collect();
        assert!(matches!(result, Err(ParseError::Read(_))));
    }

    #[test]
    fn columns_are_counted() {
        assert_eq!(columns::<3>("a, b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            columns::<3>("a,b"),
            Err(LineProblem::Columns {
                expected: 3,
                found: 2
            })
        );
    }

    #[test]
    fn country_columns_tolerate_unassigned_codes_only() {
        assert_eq!(country_column("de").unwrap().unwrap().as_str(), "DE");
        assert_eq!(country_column("").unwrap(), None);
        assert_eq!(country_column("XK").unwrap(), None);
        assert!(country_column("DEU").is_err());
        assert!(country_column("1A").is_err());
    }
}
