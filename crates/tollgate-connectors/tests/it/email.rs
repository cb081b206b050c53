//! `SmtpMailer` against the SMTP sink: what arrives, under which ids, and how refusals are
//! classified.

use std::time::Duration;

use tollgate_connectors::{
    email::{Email, MailError, Mailer, SmtpConfig, SmtpMailer},
    testing::SmtpSink,
};
use tollgate_core::ActionId;

fn mailer(sink: &SmtpSink) -> SmtpMailer {
    let mut config = SmtpConfig::from_url(
        &format!("{}?hello=tollgate.test", sink.url()),
        "Contoso Billing <billing@reseller.example>",
    )
    .unwrap();
    config.timeout = Duration::from_secs(5);
    SmtpMailer::new(config).unwrap()
}

fn email(html: Option<&str>) -> Email {
    Email {
        action_id: ActionId::generate(),
        to: "Jane Doe <jane@customer.example>".into(),
        subject: "Invoice INV-7 is overdue".into(),
        text: "Please pay invoice INV-7.\r\n.A line that starts with a dot.".into(),
        html: html.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_message_arrives_with_the_action_as_its_id() {
    let sink = SmtpSink::start().await;
    let mailer = mailer(&sink);
    let sent = email(None);
    let receipt = mailer.send(&sent).await.unwrap();
    let id = format!("<{}@reseller.example>", sent.action_id);
    assert_eq!(receipt.message_id, id);
    assert!(receipt.reply.starts_with("250"), "{}", receipt.reply);

    let received = sink.messages_for(&sent.action_id.to_string());
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.mail_from, "billing@reseller.example");
    assert_eq!(mail.rcpt_to, ["jane@customer.example"]);
    assert_eq!(mail.message_id(), Some(id.as_str()));
    assert_eq!(mail.subject(), Some("Invoice INV-7 is overdue"));
    assert_eq!(
        mail.header("From"),
        Some("\"Contoso Billing\" <billing@reseller.example>")
    );
    assert!(
        mail.body
            .contains("Please pay invoice INV-7.\r\n.A line that starts with a dot."),
        "{}",
        mail.raw
    );
}

#[tokio::test]
async fn an_html_alternative_travels_with_the_text() {
    let sink = SmtpSink::start().await;
    let sent = email(Some("<p>Please pay invoice <b>INV-7</b>.</p>"));
    mailer(&sink).send(&sent).await.unwrap();
    let mail = &sink.messages()[0];
    assert!(
        mail.header("Content-Type")
            .is_some_and(|t| t.starts_with("multipart/alternative")),
        "{}",
        mail.raw
    );
    assert!(mail.body.contains("<b>INV-7</b>") && mail.body.contains("text/plain"));
}

#[tokio::test]
async fn refusals_are_transient_for_4xx_and_permanent_for_5xx() {
    let sink = SmtpSink::start().await;
    let mailer = mailer(&sink);
    sink.defer_next(1);
    let deferred = mailer.send(&email(None)).await.unwrap_err();
    assert!(
        matches!(&deferred, MailError::Transient(why) if why.contains("451")),
        "{deferred:?}"
    );
    sink.reject_next(1);
    let rejected = mailer.send(&email(None)).await.unwrap_err();
    assert!(
        matches!(&rejected, MailError::Permanent(why) if why.contains("550")),
        "{rejected:?}"
    );
    assert!(sink.messages().is_empty());
    mailer.send(&email(None)).await.unwrap();
    assert_eq!((sink.messages().len(), sink.transactions()), (1, 3));
}

#[tokio::test]
async fn an_unreachable_relay_is_transient_and_a_bad_recipient_permanent() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    drop(sink);
    // Let the aborted listener close before dialling it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut config = SmtpConfig::from_url(&url, "billing@reseller.example").unwrap();
    config.timeout = Duration::from_secs(2);
    let mailer = SmtpMailer::new(config).unwrap();
    let error = mailer.send(&email(None)).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");

    let bad = Email {
        to: "nobody at all".into(),
        ..email(None)
    };
    let error = mailer.send(&bad).await.unwrap_err();
    assert!(matches!(error, MailError::Invalid(_)), "{error:?}");
    assert!(!error.is_transient());
}
