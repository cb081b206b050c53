//! Lists: the block and allow items in force, a page at a time, taking one off its list, and
//! pasting many in at once. Single items are added where their value is seen (a customer's
//! page) or through the API.

use axum::{
    Extension, Form,
    extract::{Path, Query, State},
    response::Response,
};
use serde::Deserialize;
use serde_json::json;

use super::{Fail, Session, changed, customer::parse_id, data, query, render, see_other};
use crate::{
    AppState,
    api::{Id, lists},
    ctx::{Ctx, Operate, Read},
    error::ApiError,
    json::Batch,
};

/// Items one page shows.
const PER_PAGE: u32 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct Shown {
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(shown): Query<Shown>,
) -> Result<Response, Fail> {
    let axum::Json(items) = lists::list(
        Ctx::<Read>::for_caller(&state, session.caller)?,
        query(json!({ "cursor": shown.cursor, "limit": PER_PAGE }))?,
    )
    .await?;
    render(
        &session,
        "lists.html",
        json!({ "items": data(items)?, "first": shown.cursor.is_none() }),
    )
}

#[derive(Deserialize)]
pub struct RemoveForm {
    csrf: String,
}

/// `POST /v1/lists/items/{id}/remove`, from the console.
pub async fn remove(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<RemoveForm>,
) -> Result<Response, Fail> {
    session.check(&form.csrf)?;
    let ctx = Ctx::<Operate>::for_caller(&state, session.caller)?;
    changed(lists::remove(ctx, Id(parse_id(&id)?)).await)?;
    Ok(see_other("/console/lists"))
}

#[derive(Deserialize)]
pub struct ImportForm {
    csrf: String,
    /// One item per line: `action,kind,value[,note]`.
    items: String,
}

/// `POST /v1/lists/items/batch`, from lines pasted into the console. Blank lines and lines
/// starting with `#` are skipped; a fault names the line it is on.
pub async fn import(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<ImportForm>,
) -> Result<Response, Fail> {
    session.check(&form.csrf)?;
    let (lines, items) = parse_lines(&form.items)?;
    let ctx = Ctx::<Operate>::for_caller(&state, session.caller)?;
    match lists::create_batch(ctx, Batch(items)).await {
        Err(ApiError::Invalid(mut errors)) => {
            for error in &mut errors {
                error.field = by_line(&error.field, &lines);
            }
            Err(Fail::Api(ApiError::Invalid(errors)))
        }
        answer => {
            changed(answer)?;
            Ok(see_other("/console/lists"))
        }
    }
}

/// The items of the pasted text, and the line number (from 1) each came from.
fn parse_lines(text: &str) -> Result<(Vec<usize>, Vec<lists::ListItemIn>), Fail> {
    let mut lines = Vec::new();
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(4, ',').map(str::trim);
        let (Some(action), Some(kind), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Fail::Api(ApiError::field(
                format!("line {}", i + 1),
                "must be action,kind,value or action,kind,value,note",
            )));
        };
        let note = parts.next().filter(|n| !n.is_empty());
        let item = json!({ "action": action, "kind": kind, "value": value, "note": note });
        let item = serde_path_to_error::deserialize(item).map_err(|e| {
            Fail::Api(ApiError::field(
                format!("line {}, {}", i + 1, e.path()),
                e.inner(),
            ))
        })?;
        lines.push(i + 1);
        items.push(item);
    }
    Ok((lines, items))
}

/// `[i].field` of the batch as `line n, field` of the pasted text.
fn by_line(field: &str, lines: &[usize]) -> String {
    let parsed = field
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'));
    match parsed.and_then(|(i, rest)| Some((lines.get(i.parse::<usize>().ok()?)?, rest))) {
        Some((line, rest)) => match rest.strip_prefix('.') {
            Some(name) => format!("line {line}, {name}"),
            None => format!("line {line}"),
        },
        None => field.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_fault_names_the_pasted_line() {
        let lines = [2, 5];
        assert_eq!(by_line("[1].value", &lines), "line 5, value");
        assert_eq!(by_line("[0]", &lines), "line 2");
        assert_eq!(by_line("items", &lines), "items");
        assert_eq!(by_line("[7].value", &lines), "[7].value");
    }
}
