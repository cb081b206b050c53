//! Cursor pagination: ids sort by creation time, so "after this id" is a stable cursor that
//! survives inserts and deletes between pages.

use serde::Serialize;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// The last id of the previous page.
    pub after: Option<String>,
    pub limit: u32,
}

impl PageRequest {
    pub(crate) fn fetch_limit(&self) -> i64 {
        i64::from(self.limit.clamp(1, MAX_LIMIT)) + 1
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Trims the one extra row fetched to learn whether another page exists.
    pub(crate) fn from_rows(
        mut data: Vec<T>,
        request: &PageRequest,
        id: impl Fn(&T) -> String,
    ) -> Self {
        let limit = request.limit.clamp(1, MAX_LIMIT) as usize;
        let next_cursor = if data.len() > limit {
            data.truncate(limit);
            data.last().map(id)
        } else {
            None
        };
        Self { data, next_cursor }
    }
}
