//! Sending e-mail: the [`Mailer`] trait and [`SmtpMailer`], which hands messages to an SMTP
//! relay through lettre's async transport (TLS by rustls with the aws-lc-rs provider, the same
//! stack `reqwest` uses).
//!
//! Every message carries the outbox action's id twice: as the `Message-ID`
//! (`<act_…@from-domain>`), which mail systems deduplicate on, and as `X-Tollgate-Action`.
//! A re-send after a crash or a manual retry is therefore the same message, not a new one.

use std::{fmt, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Mailbox, MultiPart,
        header::{HeaderName, HeaderValue},
    },
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
        extension::ClientId,
    },
};
use percent_encoding::percent_decode_str;
use reqwest::Url;
use tollgate_core::ActionId;

use crate::{BoxFuture, Secret};

/// The header naming the outbox action a message was sent for.
pub const ACTION_HEADER: &str = "X-Tollgate-Action";

/// Sends one e-mail.
pub trait Mailer: Send + Sync {
    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<MailReceipt, MailError>>;
}

/// One message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The outbox action the message is sent for: its idempotency key at the receiver.
    pub action_id: ActionId,
    /// The recipient, `name@domain` or `Name <name@domain>`.
    pub to: String,
    pub subject: String,
    pub text: String,
    /// An HTML alternative to `text`.
    pub html: Option<String>,
}

/// The relay took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailReceipt {
    /// The `Message-ID` the message was sent with, angle brackets included.
    pub message_id: String,
    /// The relay's final answer, e.g. `250 2.0.0 Ok: queued as 4Dx2`.
    pub reply: String,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The message cannot be built (an unparsable recipient): trying again cannot help.
    #[error("the message is not valid: {0}")]
    Invalid(String),
    /// A 4xx reply, a timeout or a connection that failed: worth another try.
    #[error("the mail relay did not take the message this time: {0}")]
    Transient(String),
    /// A 5xx reply: the relay refused the message for good.
    #[error("the mail relay refused the message: {0}")]
    Permanent(String),
}

impl MailError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain text: only for a relay on the same host or network.
    None,
    /// Plain connect, then `STARTTLS`, which must succeed (port 587 by default).
    StartTls,
    /// TLS from the first byte (`smtps://`, port 465 by default).
    Tls,
}

/// Where and how [`SmtpMailer`] reaches its relay.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// User name and password for `AUTH`, if the relay wants them.
    pub credentials: Option<(String, Secret)>,
    /// The sender, `name@domain` or `Name <name@domain>`; its domain also names the Message-IDs.
    pub from: String,
    /// The name given in `EHLO`; `localhost` when unset.
    pub hello_name: Option<String>,
    /// For each exchange with the relay.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// A relay URL or sender that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailConfigError {
    #[error("the SMTP URL is not valid: {0}")]
    Url(String),
    #[error("the sender `{0}` is not a valid mailbox")]
    From(String),
    #[error("the TLS settings for `{host}` are not usable: {why}")]
    Tls { host: String, why: String },
}

impl SmtpConfig {
    /// Reads `smtp://[user[:password]@]host[:port][?tls=starttls|none][&hello=name]` or
    /// `smtps://…`. Without `tls`, `smtp://` is plain text; user and password are
    /// percent-decoded. Default ports: 25 plain, 587 STARTTLS, 465 TLS.
    pub fn from_url(url: &str, from: impl Into<String>) -> Result<Self, MailConfigError> {
        let url = Url::parse(url).map_err(|e| MailConfigError::Url(e.to_string()))?;
        let mut tls = None;
        let mut hello_name = None;
        for (key, value) in url.query_pairs() {
            match &*key {
                "tls" => tls = Some(value.into_owned()),
                "hello" => hello_name = Some(value.into_owned()),
                other => {
                    return Err(MailConfigError::Url(format!(
                        "unknown parameter `{other}` (known: tls, hello)"
                    )));
                }
            }
        }
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtp", None | Some("none")) => SmtpSecurity::None,
            ("smtp", Some("starttls" | "required")) => SmtpSecurity::StartTls,
            ("smtps", None) => SmtpSecurity::Tls,
            ("smtp" | "smtps", Some(other)) => {
                return Err(MailConfigError::Url(format!(
                    "`tls={other}` is not supported with {}:// (use tls=starttls or tls=none on smtp://, nothing on smtps://)",
                    url.scheme()
                )));
            }
            (scheme, _) => {
                return Err(MailConfigError::Url(format!(
                    "the scheme must be smtp or smtps, not `{scheme}`"
                )));
            }
        };
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.trim_matches(['[', ']']).to_owned(),
            _ => return Err(MailConfigError::Url("no host".into())),
        };
        let port = url.port().unwrap_or(match security {
            SmtpSecurity::None => 25,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
        });
        let decode = |part: &str| {
            percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| MailConfigError::Url("user or password is not UTF-8".into()))
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, password) => Some((
                decode(user)?,
                Secret::new(decode(password.unwrap_or_default())?),
            )),
        };
        Ok(Self {
            host,
            port,
            security,
            credentials,
            from: from.into(),
            hello_name,
            timeout: Duration::from_secs(30),
        })
    }
}

/// [`Mailer`] over SMTP: one connection per message, so a relay that dropped an idle
/// connection never fails a send.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The right-hand side of every Message-ID.
    id_domain: String,
    config: SmtpConfig,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    pub fn new(config: SmtpConfig) -> Result<Self, MailConfigError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| MailConfigError::From(config.from.clone()))?;
        let id_domain = from.email.domain().to_owned();
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned()).map_err(|e| MailConfigError::Tls {
                host: host.to_owned(),
                why: e.to_string(),
            })
        };
        let tls = match config.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls(&config.host)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls(&config.host)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some(name) = &config.hello_name {
            builder = builder.hello_name(ClientId::Domain(name.clone()));
        }
        if let Some((user, password)) = &config.credentials {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            id_domain,
            config,
        })
    }

    /// The `Message-ID` a message for `action` carries.
    pub fn message_id(&self, action: ActionId) -> String {
        format!("<{action}@{}>", self.id_domain)
    }

    fn message(&self, email: &Email) -> Result<Message, MailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| MailError::Invalid(format!("recipient `{}`: {e}", email.to)))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(self.message_id(email.action_id)))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(ACTION_HEADER),
                email.action_id.to_string(),
            ));
        let built = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder.body(email.text.clone()),
        };
        built.map_err(|e| MailError::Invalid(e.to_string()))
    }

    async fn deliver(&self, email: &Email) -> Result<MailReceipt, MailError> {
        let message = self.message(email)?;
        let response = self.transport.send(message).await.map_err(classify)?;
        let text = response.message().collect::<Vec<_>>().join(" ");
        Ok(MailReceipt {
            message_id: self.message_id(email.action_id),
            reply: format!("{} {text}", response.code()).trim_end().to_owned(),
        })
    }
}

/// 5xx is final; a 4xx, a timeout, a refused connection or a failed handshake may pass later.
fn classify(error: lettre::transport::smtp::Error) -> MailError {
    if error.is_permanent() {
        MailError::Permanent(error.to_string())
    } else {
        MailError::Transient(error.to_string())
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<MailReceipt, MailError>> {
        Box::pin(self.deliver(email))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_security_port_and_credentials() {
        let config = SmtpConfig::from_url(
            "smtp://mailer%40acme:p%3Ass@relay.example?tls=starttls",
            "a@b.c",
        )
        .unwrap();
        assert_eq!(config.security, SmtpSecurity::StartTls);
        assert_eq!(config.port, 587);
        let (user, password) = config.credentials.clone().unwrap();
        assert_eq!((user.as_str(), password.expose()), ("mailer@acme", "p:ss"));

        let plain = SmtpConfig::from_url("smtp://127.0.0.1:2525", "a@b.c").unwrap();
        assert_eq!(
            (plain.security, plain.port, plain.credentials.is_none()),
            (SmtpSecurity::None, 2525, true)
        );
        let tls =
            SmtpConfig::from_url("smtps://relay.example?hello=tollgate.example", "a@b.c").unwrap();
        assert_eq!((tls.security, tls.port), (SmtpSecurity::Tls, 465));
        assert_eq!(tls.hello_name.as_deref(), Some("tollgate.example"));

        for bad in [
            "http://relay.example",
            "smtp://relay.example?tls=maybe",
            "smtps://relay.example?tls=starttls",
            "smtp://relay.example?port=25",
            "not a url",
        ] {
            assert!(SmtpConfig::from_url(bad, "a@b.c").is_err(), "{bad}");
        }
    }

    #[test]
    fn the_password_does_not_show_in_debug_output() {
        let config = SmtpConfig::from_url(
            "smtp://mailer:hunter2@relay.example?tls=starttls",
            "Tollgate <billing@reseller.example>",
        )
        .unwrap();
        let mailer = SmtpMailer::new(config).unwrap();
        let printed = format!("{mailer:?}");
        assert!(
            printed.contains("mailer") && !printed.contains("hunter2"),
            "{printed}"
        );
    }

    #[test]
    fn the_message_id_comes_from_the_action_and_the_sender_domain() {
        let config = SmtpConfig::from_url(
            "smtp://127.0.0.1:2525",
            "Billing <billing@reseller.example>",
        )
        .unwrap();
        let mailer = SmtpMailer::new(config).unwrap();
        let action = ActionId::generate();
        assert_eq!(
            mailer.message_id(action),
            format!("<{action}@reseller.example>")
        );
        assert!(matches!(
            SmtpMailer::new(SmtpConfig::from_url("smtp://h", "no sender").unwrap()),
            Err(MailConfigError::From(_))
        ));
        let bad = Email {
            action_id: action,
            to: "not an address".into(),
            subject: "s".into(),
            text: "t".into(),
            html: None,
        };
        assert!(matches!(mailer.message(&bad), Err(MailError::Invalid(_))));
    }
}
