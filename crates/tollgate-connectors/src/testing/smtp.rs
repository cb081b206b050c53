//! A real SMTP server for tests: enough of RFC 5321 for a client to hand it mail (`EHLO`/`HELO`,
//! `MAIL FROM`, `RCPT TO`, `DATA` with dot-unstuffing, `RSET`, `NOOP`, `QUIT`), over plain TCP on
//! a local port. It keeps every message it accepted and can be told to refuse the next ones.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::Notify,
    task::JoinHandle,
};

/// One message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The `MAIL FROM` address, without angle brackets.
    pub mail_from: String,
    /// The `RCPT TO` addresses, without angle brackets.
    pub rcpt_to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, lines ending in CRLF.
    pub raw: String,
    /// The header fields in order, continuation lines unfolded, values trimmed.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line that ends the header, as sent (not MIME-decoded).
    pub body: String,
}

impl ReceivedMail {
    /// The first header field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn message_id(&self) -> Option<&str> {
        self.header("Message-ID")
    }

    pub fn subject(&self) -> Option<&str> {
        self.header("Subject")
    }

    fn parse(mail_from: String, rcpt_to: Vec<String>, raw: String) -> Self {
        let (head, body) = match raw.split_once("\r\n\r\n") {
            Some((head, body)) => (head, body.to_owned()),
            None => (raw.as_str(), String::new()),
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        Self {
            mail_from,
            rcpt_to,
            headers,
            body,
            raw,
        }
    }
}

#[derive(Default)]
struct Shared {
    received: Vec<ReceivedMail>,
    /// Replies to give at the end of `DATA` instead of accepting, first one first.
    refusals: VecDeque<String>,
    /// `DATA` transactions answered, accepted or not.
    transactions: usize,
}

/// The sink: started on `127.0.0.1:0`, stopped when dropped.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    arrived: Arc<Notify>,
    server: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let addr = listener.local_addr().expect("the SMTP sink's address");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let arrived = Arc::new(Notify::new());
        let server = tokio::spawn({
            let shared = Arc::clone(&shared);
            let arrived = Arc::clone(&arrived);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(session(stream, Arc::clone(&shared), Arc::clone(&arrived)));
                }
            }
        });
        Self {
            addr,
            shared,
            arrived,
            server,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:{port}`: plain text, no authentication.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message accepted so far, in order of arrival.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.lock().received.clone()
    }

    /// The accepted messages whose `X-Tollgate-Action` is `action`.
    pub fn messages_for(&self, action: &str) -> Vec<ReceivedMail> {
        self.messages()
            .into_iter()
            .filter(|m| m.header(crate::email::ACTION_HEADER) == Some(action))
            .collect()
    }

    /// How many `DATA` transactions were answered, accepted or refused.
    pub fn transactions(&self) -> usize {
        self.lock().transactions
    }

    /// Answers the next `n` messages with `451 4.3.0` (try again later) instead of taking them.
    pub fn defer_next(&self, n: usize) {
        self.refuse_next(
            n,
            "451 4.3.0 Mailbox temporarily unavailable, try again later",
        );
    }

    /// Answers the next `n` messages with `550 5.1.1` (no such user) instead of taking them.
    pub fn reject_next(&self, n: usize) {
        self.refuse_next(n, "550 5.1.1 No such user here");
    }

    /// Answers the next `n` messages with `reply` (a code and text, e.g. `452 4.2.2 Over
    /// quota`) at the end of `DATA`.
    pub fn refuse_next(&self, n: usize, reply: &str) {
        let mut shared = self.lock();
        shared
            .refusals
            .extend(std::iter::repeat_n(reply.to_owned(), n));
    }

    /// Forgets the refusals not given yet: the next messages are taken.
    pub fn stop_refusing(&self) {
        self.lock().refusals.clear();
    }

    /// Waits until at least `count` messages were accepted, or `within` has passed; returns
    /// what arrived.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.arrived.notified();
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.messages();
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One client connection, until `QUIT` or the client goes away.
async fn session(stream: TcpStream, shared: Arc<Mutex<Shared>>, arrived: Arc<Notify>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut reply = async |text: &str| write.write_all(format!("{text}\r\n").as_bytes()).await;
    if reply("220 tollgate-sink ESMTP ready").await.is_err() {
        return;
    }
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" => "250-tollgate-sink\r\n250-8BITMIME\r\n250 SMTPUTF8".to_owned(),
            "HELO" => "250 tollgate-sink".to_owned(),
            "NOOP" => "250 2.0.0 OK".to_owned(),
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 2.0.0 OK".to_owned()
            }
            "QUIT" => {
                let _ = reply("221 2.0.0 Bye").await;
                return;
            }
            "MAIL" => match argument(&command, "MAIL FROM:") {
                Some(address) => {
                    mail_from = Some(address);
                    rcpt_to.clear();
                    "250 2.1.0 OK".to_owned()
                }
                None => "501 5.5.4 Syntax: MAIL FROM:<address>".to_owned(),
            },
            "RCPT" => match (&mail_from, argument(&command, "RCPT TO:")) {
                (None, _) => "503 5.5.1 MAIL first".to_owned(),
                (Some(_), Some(address)) => {
                    rcpt_to.push(address);
                    "250 2.1.5 OK".to_owned()
                }
                (Some(_), None) => "501 5.5.4 Syntax: RCPT TO:<address>".to_owned(),
            },
            "DATA" if mail_from.is_none() || rcpt_to.is_empty() => {
                "503 5.5.1 MAIL and RCPT first".to_owned()
            }
            "DATA" => {
                if reply("354 End data with <CR><LF>.<CR><LF>").await.is_err() {
                    return;
                }
                let Some(raw) = read_data(&mut lines).await else {
                    return;
                };
                let envelope = (
                    mail_from.take().unwrap_or_default(),
                    std::mem::take(&mut rcpt_to),
                );
                let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
                shared.transactions += 1;
                match shared.refusals.pop_front() {
                    Some(refusal) => refusal,
                    None => {
                        shared
                            .received
                            .push(ReceivedMail::parse(envelope.0, envelope.1, raw));
                        arrived.notify_waiters();
                        "250 2.0.0 OK: queued".to_owned()
                    }
                }
            }
            _ => "502 5.5.2 Command not recognized".to_owned(),
        };
        if reply(&answer).await.is_err() {
            return;
        }
    }
}

/// The address in `MAIL FROM:<a@b> BODY=8BITMIME`, case-insensitive on the command.
fn argument(command: &str, prefix: &str) -> Option<String> {
    let head = command.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = command[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

/// The message after `DATA`, up to the line holding a single dot; a leading dot that the
/// client doubled is removed (RFC 5321 §4.5.2). `None` if the client went away first.
async fn read_data(lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<String> {
    let mut raw = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if line == b".\r\n" || line == b".\n" {
            return Some(String::from_utf8_lossy(&raw).into_owned());
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        raw.extend_from_slice(unstuffed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn converse(sink: &SmtpSink, script: &[&str]) -> Vec<String> {
        let stream = TcpStream::connect(sink.addr()).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut answers = vec![lines.next_line().await.unwrap().unwrap()];
        for sent in script {
            write
                .write_all(format!("{sent}\r\n").as_bytes())
                .await
                .unwrap();
            // Lines inside DATA get no answer of their own.
            if answers.last().is_some_and(|a| a.starts_with("354")) && *sent != "." {
                continue;
            }
            // A multi-line answer counts once, by its last line.
            loop {
                let answer = lines.next_line().await.unwrap().unwrap();
                if answer.as_bytes().get(3) != Some(&b'-') {
                    answers.push(answer);
                    break;
                }
            }
        }
        answers
    }

    fn codes(answers: &[String]) -> Vec<&str> {
        answers.iter().map(|a| &a[..3]).collect()
    }

    #[tokio::test]
    async fn a_session_stores_the_message_dot_unstuffed_with_its_envelope() {
        let sink = SmtpSink::start().await;
        let answers = converse(
            &sink,
            &[
                "EHLO client.example",
                "RCPT TO:<early@example.com>",
                "MAIL FROM:<billing@reseller.example> BODY=8BITMIME",
                "rcpt to:<a@customer.example>",
                "RCPT TO:<b@customer.example>",
                "NOOP",
                "DATA",
                "Message-ID: <act_1@reseller.example>",
                "Subject: Overdue",
                "  invoice",
                "",
                "..leading dot",
                "body",
                ".",
                "QUIT",
            ],
        )
        .await;
        assert_eq!(
            codes(&answers),
            [
                "220", "250", "503", "250", "250", "250", "250", "354", "250", "221"
            ]
        );
        let mail = &sink.messages()[0];
        assert_eq!(mail.mail_from, "billing@reseller.example");
        assert_eq!(mail.rcpt_to, ["a@customer.example", "b@customer.example"]);
        assert_eq!(mail.message_id(), Some("<act_1@reseller.example>"));
        assert_eq!(mail.subject(), Some("Overdue invoice"));
        assert_eq!(mail.body, ".leading dot\r\nbody\r\n");
    }

    #[tokio::test]
    async fn refusals_are_given_in_order_then_messages_are_taken_again() {
        let sink = SmtpSink::start().await;
        sink.defer_next(1);
        sink.reject_next(1);
        let one = [
            "MAIL FROM:<a@b.example>",
            "RCPT TO:<c@d.example>",
            "DATA",
            "x",
            ".",
        ];
        let script: Vec<&str> = ["HELO c"]
            .into_iter()
            .chain(one)
            .chain(["RSET"])
            .chain(one)
            .chain(one)
            .chain(["DATA", "QUIT"])
            .collect();
        let answers = converse(&sink, &script).await;
        assert_eq!(
            codes(&answers),
            [
                "220", "250", "250", "250", "354", "451", "250", "250", "250", "354", "550", "250",
                "250", "354", "250", "503", "221"
            ]
        );
        assert_eq!(sink.messages().len(), 1);
        assert_eq!(sink.transactions(), 3);

        sink.defer_next(5);
        sink.stop_refusing();
        let answers = converse(
            &sink,
            &["HELO c"].into_iter().chain(one).collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(codes(&answers).last(), Some(&"250"));
        assert_eq!(sink.wait_for(2, Duration::from_secs(1)).await.len(), 2);
    }
}
