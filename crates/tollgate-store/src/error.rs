use sqlx::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write; `field` names the input field at fault.
    #[error("{field} is already taken")]
    Duplicate { field: &'static str },
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Maps a unique violation on one of `constraints` (name → field) to `Duplicate`.
    /// SQLite reports columns rather than constraint names, so the column list is matched too.
    pub(crate) fn unique(err: sqlx::Error, constraints: &[(&str, &str, &'static str)]) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.kind() == ErrorKind::UniqueViolation
        {
            let message = db.message();
            let constraint = db.constraint().unwrap_or_default();
            for (name, columns, field) in constraints {
                if constraint == *name || message.contains(columns) {
                    return StoreError::Duplicate { field };
                }
            }
        }
        StoreError::Database(err)
    }

    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(db)) if db.kind() == ErrorKind::UniqueViolation)
    }
}
