//! `tollgate serve` as a child process on a free port, for the tests that kill it and start it
//! again on the same data.

use std::{
    fs::File,
    net::TcpListener,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};

use super::Place;

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Place {
    /// Starts `tollgate serve --listen <free port> <extra>` logging to `serve.log` in this place,
    /// and returns once `/readyz` answers.
    pub async fn serve(&self, http: &Client, extra: &[&str]) -> Server {
        let log_path = self.dir.path().join("serve.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--listen", &listen];
        args.extend_from_slice(extra);
        let child = self
            .command(&args)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            base: format!("http://{listen}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = http.get(format!("{}/readyz", server.base)).send().await
                && response.status() == StatusCode::OK
            {
                return server;
            }
            let exited = server.child.try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "tollgate serve did not become ready ({exited:?}):\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
