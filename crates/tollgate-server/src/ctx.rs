//! The request context a handler works through: the caller (checked for the permission the
//! handler's type names), the clock, the store, and the idempotency key if one was sent.

use std::marker::PhantomData;

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tollgate_core::{
    TenantId,
    audit::{Actor, AuditEntry},
    tenancy::Permission,
};
use tollgate_store::{StoredResponse, Tx};

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiResult},
    idempotency::{Idempotency, replay, winner},
};

/// A permission as a type, so `Ctx<Operate>` in a handler's signature is the check.
pub trait Needs: Send + Sync + 'static {
    const PERMISSION: Permission;
    const WHAT: &'static str;
}

macro_rules! needs {
    ($($name:ident => $perm:ident, $what:literal;)+) => {$(
        pub struct $name;
        impl Needs for $name {
            const PERMISSION: Permission = Permission::$perm;
            const WHAT: &'static str = $what;
        }
    )+};
}

needs! {
    Read => Read, "read";
    WriteFacts => WriteFacts, "write facts";
    Operate => Operate, "operate";
    Administer => Administer, "administer the tenant";
}

pub struct Ctx<P> {
    pub state: AppState,
    pub caller: Caller,
    idempotency: Option<Idempotency>,
    // `fn() -> P` keeps the context Send + Sync whatever the marker type.
    _needs: PhantomData<fn() -> P>,
}

impl<P: Needs> FromRequestParts<AppState> for Ctx<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = *parts
            .extensions
            .get::<Caller>()
            .ok_or(ApiError::Unauthorized)?;
        if !caller.role.allows(P::PERMISSION) {
            return Err(ApiError::Forbidden(P::WHAT));
        }
        Ok(Self {
            state: state.clone(),
            caller,
            idempotency: parts.extensions.get::<Idempotency>().cloned(),
            _needs: PhantomData,
        })
    }
}

impl<P: Needs> Ctx<P> {
    /// The context of a caller authenticated some other way than by bearer key (the console's
    /// session), checked for the permission like the extractor checks it.
    pub fn for_caller(state: &AppState, caller: Caller) -> Result<Self, ApiError> {
        if !caller.role.allows(P::PERMISSION) {
            return Err(ApiError::Forbidden(P::WHAT));
        }
        Ok(Self {
            state: state.clone(),
            caller,
            idempotency: None,
            _needs: PhantomData,
        })
    }
}

impl<P> Ctx<P> {
    pub fn tenant(&self) -> TenantId {
        self.caller.tenant
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.state.now()
    }

    pub fn actor(&self) -> Actor {
        Actor::Key {
            id: self.caller.key.to_string(),
        }
    }

    pub async fn begin(&self) -> ApiResult<Tx> {
        Ok(self.state.store().begin().await?)
    }

    pub async fn read(&self) -> ApiResult<Tx> {
        Ok(self.state.store().read().await?)
    }

    /// See [`tollgate_store::Store::read_latest`].
    pub async fn read_latest(&self) -> ApiResult<Tx> {
        Ok(self.state.store().read_latest().await?)
    }

    /// Appends to the tenant's audit chain inside `tx`, as this caller.
    pub async fn audit(
        &self,
        tx: &mut Tx,
        action: &str,
        object_id: impl ToString,
        data: impl Serialize,
    ) -> ApiResult<()> {
        audit_as(self, tx, action, object_id, data).await
    }

    /// Commits `tx` and answers with `body`. With an `Idempotency-Key`, the answer is stored in
    /// the same transaction; if a concurrent twin committed first, this one rolls back and
    /// replays the twin's answer.
    pub async fn commit(
        &self,
        mut tx: Tx,
        status: StatusCode,
        body: &impl Serialize,
    ) -> ApiResult<Response> {
        let text = serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?;
        let saved = match &self.idempotency {
            Some(idem) => {
                let stored = StoredResponse {
                    request_hash: idem.request_hash.clone(),
                    status: status.as_u16(),
                    body: text.clone(),
                };
                tx.save_idempotent_response(self.tenant(), &idem.key, &stored, self.now())
                    .await
            }
            None => Ok(()),
        };
        let wake = tx.enqueued_actions();
        // A twin's key shows up as a unique violation here (SQLite) or, where the response is a
        // kept write (PostgreSQL), at the commit.
        let committed = match saved {
            Ok(()) => tx.commit().await,
            // Ended before the winner is looked up: that takes a write transaction of its own.
            Err(err) => {
                drop(tx);
                Err(err)
            }
        };
        match committed {
            Ok(()) => {
                if wake {
                    self.state.outbox_wakeup().wake();
                }
                Ok(json_response(status, text))
            }
            Err(err) => match &self.idempotency {
                Some(idem) if err.is_unique_violation() => {
                    let first = winner(&self.state, self.tenant(), &idem.key)
                        .await?
                        .ok_or(err)?;
                    replay(&first, &idem.request_hash)
                }
                _ => Err(err.into()),
            },
        }
    }
}

pub fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Who acts, for which tenant, and when: a request's caller or a background job. Code shared by
/// handlers and jobs (raising an alert, recording a transition) takes `&impl Acting`.
pub trait Acting: Sync {
    fn tenant(&self) -> TenantId;
    fn actor(&self) -> Actor;
    fn now(&self) -> DateTime<Utc>;
}

impl<P> Acting for Ctx<P> {
    fn tenant(&self) -> TenantId {
        Ctx::tenant(self)
    }
    fn actor(&self) -> Actor {
        Ctx::actor(self)
    }
    fn now(&self) -> DateTime<Utc> {
        Ctx::now(self)
    }
}

/// A background job acting for one tenant at one instant (the job's clock reading).
#[derive(Debug, Clone)]
pub struct Job {
    pub tenant: TenantId,
    pub name: &'static str,
    pub now: DateTime<Utc>,
}

impl Acting for Job {
    fn tenant(&self) -> TenantId {
        self.tenant
    }
    fn actor(&self) -> Actor {
        Actor::Job {
            name: self.name.to_owned(),
        }
    }
    fn now(&self) -> DateTime<Utc> {
        self.now
    }
}

impl Job {
    pub async fn audit(
        &self,
        tx: &mut Tx,
        action: &str,
        object_id: impl ToString,
        data: impl Serialize,
    ) -> ApiResult<()> {
        audit_as(self, tx, action, object_id, data).await
    }
}

/// Records an event for the actor's tenant's audit chain, appended when `tx` commits
/// ([`Tx::defer_audit`]).
pub async fn audit_as(
    who: &impl Acting,
    tx: &mut Tx,
    action: &str,
    object_id: impl ToString,
    data: impl Serialize,
) -> ApiResult<()> {
    let entry = entry(who, action, object_id, data)?;
    tx.defer_audit(who.tenant(), who.now(), entry);
    Ok(())
}

fn entry(
    who: &impl Acting,
    action: &str,
    object_id: impl ToString,
    data: impl Serialize,
) -> ApiResult<AuditEntry> {
    Ok(AuditEntry {
        actor: who.actor(),
        action: action.to_owned(),
        object_id: object_id.to_string(),
        data: serde_json::to_value(data).map_err(|e| ApiError::Internal(e.to_string()))?,
    })
}
