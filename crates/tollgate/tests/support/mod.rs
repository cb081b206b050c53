//! Running the real `tollgate` binary against a store of its own: a fresh SQLite data
//! directory, or a fresh PostgreSQL schema when `TOLLGATE_TEST_DATABASE_URL` is set.

use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;
use tollgate_store::testing::{self, TestStore};

pub enum Engine {
    Sqlite,
    Postgres,
}

pub struct Place {
    /// The working directory; on SQLite the data directory lives inside it.
    pub dir: TempDir,
    /// The PostgreSQL schema, kept alive for as long as the place is.
    pub postgres: Option<TestStore>,
}

impl Place {
    /// `None` when the engine is PostgreSQL and no test database is configured.
    pub async fn new(engine: Engine) -> Option<Place> {
        let postgres = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some(testing::postgres().await?),
        };
        Some(Place {
            dir: tempfile::tempdir().unwrap(),
            postgres,
        })
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// `tollgate <args>` pointed at this place, deaf to the caller's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        command.current_dir(self.dir.path());
        for var in [
            "TOLLGATE_DATA_DIR",
            "TOLLGATE_DATABASE_URL",
            "TOLLGATE_LISTEN",
            "TOLLGATE_BODY_LIMIT",
        ] {
            command.env_remove(var);
        }
        match &self.postgres {
            Some(db) => command.arg("--database-url").arg(&db.url),
            None => command.arg("--data-dir").arg(self.data_dir()),
        };
        command.args(args);
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `tollgate init --json`: the first tenant and its admin key.
    pub fn init(&self) -> Value {
        let output = self.run(&["init", "--json"]);
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    }
}
