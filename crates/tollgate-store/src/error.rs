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
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Maps a unique violation on one of `constraints` (name → field) to `Duplicate`.
    /// SQLite reports columns rather than constraint names, so the column list is matched too.
    pub(crate) fn unique(self, constraints: &[(&str, &str, &'static str)]) -> Self {
        let (constraint, message) = match &self {
            StoreError::Database(sqlx::Error::Database(db))
                if db.kind() == ErrorKind::UniqueViolation =>
            {
                (db.constraint().unwrap_or_default(), db.message())
            }
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(_, Some(message)))
                if self.is_unique_violation() =>
            {
                ("", message.as_str())
            }
            _ => return self,
        };
        for (name, columns, field) in constraints {
            if constraint == *name || message.contains(columns) {
                return StoreError::Duplicate { field };
            }
        }
        self
    }

    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => {
                db.kind() == ErrorKind::UniqueViolation
            }
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            _ => false,
        }
    }
}
