//! Lists: the block and allow items in force, a page at a time, and taking one off its list.
//! Items are added where their value is seen (a customer's page) or through the API.

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
