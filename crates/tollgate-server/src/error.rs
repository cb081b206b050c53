//! One error type for the API, rendered as RFC 9457 problem details. Internal failures are
//! logged with the request id and answered with an opaque 500: nothing about the store leaks.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tollgate_core::validate::FieldError;
use tollgate_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid API key is required")]
    Unauthorized,
    #[error("this key's role may not {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("the request body must be `application/json`")]
    UnsupportedMediaType,
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{detail}")]
    Conflict {
        detail: String,
        field: Option<&'static str>,
    },
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A provider Tollgate depends on is not configured or did not answer.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, message)])
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) | ApiError::IdempotencyMismatch => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not-found",
            ApiError::MalformedJson(_) => "malformed-json",
            ApiError::Invalid(_) => "invalid-fields",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::TooLarge(_) => "body-too-large",
            ApiError::Conflict { .. } => "conflict",
            ApiError::IdempotencyMismatch => "idempotency-key-reused",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Unavailable(_) => "provider-unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// RFC 9457 problem details, with the fields at fault.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Each field at fault and what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let errors = match &self {
            ApiError::Invalid(errors) => errors.clone(),
            ApiError::Conflict {
                field: Some(field),
                detail,
            } => vec![FieldError::new(*field, detail)],
            _ => Vec::new(),
        };
        let detail = match &self {
            ApiError::Invalid(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        let problem = Problem {
            kind: format!("/problems/{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Duplicate { field } => ApiError::Conflict {
                detail: format!("{field} is already in use"),
                field: Some(field),
            },
            StoreError::Conflict(detail) => ApiError::Conflict {
                detail,
                field: None,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
