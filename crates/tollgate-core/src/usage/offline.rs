//! Offline scoring for analysts and evaluation (`tollgate anomalies score FILE.csv`): the same
//! detector the server runs, fed a `timestamp,value` CSV in file order, writing
//! `timestamp,value,score,is_anomaly`.

use std::io::{Read, Write};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::anomaly::{ColdStartPrior, Detector, DetectorError};

/// Why a file could not be scored; row faults carry the 1-based line number.
#[derive(Debug, thiserror::Error)]
pub enum ScoreCsvError {
    #[error("the header must be `timestamp,value`, found `{found}`")]
    Header { found: String },
    #[error("line {line}: {message}")]
    Row { line: u64, message: String },
    #[error("line {line}: {source}")]
    Detector {
        line: u64,
        #[source]
        source: DetectorError,
    },
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What a scoring run saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScoreSummary {
    pub points: u64,
    pub anomalies: u64,
}

/// Scores every row of `input` in order and writes one output row per input row. Output is
/// streamed, so on a bad row the rows before it have already been written.
pub fn score_csv<R: Read, W: Write>(
    input: R,
    output: W,
    detector: &Detector,
    prior: ColdStartPrior,
) -> Result<ScoreSummary, ScoreCsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let header = reader.headers()?;
    if header.len() != 2 || &header[0] != "timestamp" || &header[1] != "value" {
        return Err(ScoreCsvError::Header {
            found: header.iter().collect::<Vec<_>>().join(","),
        });
    }
    let mut writer = csv::Writer::from_writer(output);
    writer.write_record(["timestamp", "value", "score", "is_anomaly"])?;

    let mut state = detector.start(prior);
    let mut summary = ScoreSummary::default();
    let mut row = csv::StringRecord::new();
    while reader.read_record(&mut row)? {
        let line = row.position().map_or(0, csv::Position::line);
        let bad = |message: String| ScoreCsvError::Row { line, message };
        let (Some(ts), Some(value), 2) = (row.get(0), row.get(1), row.len()) else {
            return Err(bad(format!("expected 2 fields, found {}", row.len())));
        };
        let at = parse_timestamp(ts).ok_or_else(|| {
            bad(format!(
                "`{ts}` is not an RFC 3339 timestamp, `YYYY-MM-DD HH:MM:SS` or a date"
            ))
        })?;
        let value: f64 = value
            .parse()
            .map_err(|_| bad(format!("`{value}` is not a number")))?;
        let point = detector
            .observe(&mut state, at, value)
            .map_err(|source| ScoreCsvError::Detector { line, source })?;
        summary.points += 1;
        summary.anomalies += u64::from(point.is_anomaly);
        writer.write_record([
            ts,
            row.get(1).unwrap_or_default(),
            &format!("{:.4}", point.score),
            if point.is_anomaly { "true" } else { "false" },
        ])?;
    }
    writer.flush()?;
    Ok(summary)
}

/// Timestamps without an offset are UTC.
fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::anomaly::DetectorConfig;

    fn score(csv: &str) -> Result<(String, ScoreSummary), ScoreCsvError> {
        let mut out = Vec::new();
        let detector = Detector::new(DetectorConfig::hourly());
        let summary = score_csv(
            csv.as_bytes(),
            &mut out,
            &detector,
            ColdStartPrior::uninformed(),
        )?;
        Ok((String::from_utf8(out).unwrap(), summary))
    }

    #[test]
    fn writes_one_scored_row_per_input_row() {
        let mut csv = String::from("timestamp,value\n");
        for h in 0..48 {
            csv.push_str(&format!(
                "2026-03-{:02}T{:02}:00:00Z,5.0\n",
                1 + h / 24,
                h % 24
            ));
        }
        csv.push_str("2026-03-03 00:00:00,500\n");
        let (out, summary) = score(&csv).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "timestamp,value,score,is_anomaly");
        assert_eq!(lines.len(), 50);
        assert_eq!(lines[1], "2026-03-01T00:00:00Z,5.0,0.0000,false");
        assert!(
            lines[49].starts_with("2026-03-03 00:00:00,500,0.8"),
            "{}",
            lines[49]
        );
        assert!(lines[49].ends_with(",true"));
        assert_eq!(
            summary,
            ScoreSummary {
                points: 49,
                anomalies: 1
            }
        );
    }

    #[test]
    fn bad_rows_name_their_line() {
        let bad_value = "timestamp,value\n2026-03-01,1\n2026-03-02,abc\n";
        assert!(matches!(
            score(bad_value),
            Err(ScoreCsvError::Row { line: 3, .. })
        ));
        let bad_time = "timestamp,value\nyesterday,1\n";
        assert!(matches!(
            score(bad_time),
            Err(ScoreCsvError::Row { line: 2, .. })
        ));
        let backwards = "timestamp,value\n2026-03-02,1\n2026-03-01,1\n";
        assert!(matches!(
            score(backwards),
            Err(ScoreCsvError::Detector { line: 3, .. })
        ));
        let negative = "timestamp,value\n2026-03-02,-4\n";
        assert!(matches!(
            score(negative),
            Err(ScoreCsvError::Detector { line: 2, .. })
        ));
        assert!(matches!(
            score("time,value\n"),
            Err(ScoreCsvError::Header { .. })
        ));
        let ragged = "timestamp,value\n2026-03-02,1,9\n";
        assert!(score(ragged).is_err());
    }
}
