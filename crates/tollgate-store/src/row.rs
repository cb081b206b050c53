//! Conversions between portable column types and domain values.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use crate::{Result, StoreError, lite::Value, statement::Row};

pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn instant(micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {micros} out of range")))
}

/// Typed reads that turn a surprising stored value into `Corrupt`, never a panic.
pub(crate) trait RowExt {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    fn at(&self, col: &str) -> Result<DateTime<Utc>> {
        instant(self.int(col)?)
    }
    fn opt_at(&self, col: &str) -> Result<Option<DateTime<Utc>>> {
        self.opt_int(col)?.map(instant).transpose()
    }
    fn parsed<T: FromStr>(&self, col: &str) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text(col)?;
        text.parse()
            .map_err(|e| StoreError::Corrupt(format!("{col} = `{text}`: {e}")))
    }
    fn json<T: serde::de::DeserializeOwned>(&self, col: &str) -> Result<T> {
        serde_json::from_str(&self.text(col)?)
            .map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
    }
}

impl RowExt for Row {
    fn text(&self, col: &str) -> Result<String> {
        self.opt_text(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("{col} is NULL")))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        match self {
            Row::Any(row) => Ok(row.try_get(col)?),
            Row::Lite(row) => match row.value(col)? {
                Value::Null => Ok(None),
                Value::Text(text) => Ok(Some(text.clone())),
                other => Err(StoreError::Corrupt(format!("{col} = {other:?}, not text"))),
            },
        }
    }
    fn int(&self, col: &str) -> Result<i64> {
        self.opt_int(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("{col} is NULL")))
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        match self {
            Row::Any(row) => Ok(row.try_get(col)?),
            Row::Lite(row) => match row.value(col)? {
                Value::Null => Ok(None),
                Value::Int(int) => Ok(Some(*int)),
                other => Err(StoreError::Corrupt(format!(
                    "{col} = {other:?}, not an integer"
                ))),
            },
        }
    }
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain values always serialize")
}
