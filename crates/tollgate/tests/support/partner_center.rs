//! `serve` arguments that point the real binary at a fake Partner Center.

use tollgate_connectors::partner_center::testing::{
    FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FAKE_REFRESH_TOKEN, FakePartnerCenter,
};

/// The connector's credentials, API base, token URL and signing-certificate host, all the
/// fake's.
pub fn serve_args(fake: &FakePartnerCenter) -> Vec<String> {
    let certificate_host = fake.base_url().trim_start_matches("http://").to_owned();
    [
        "--partner-center-tenant",
        "partner.onmicrosoft.com",
        "--partner-center-client-id",
        FAKE_CLIENT_ID,
        "--partner-center-client-secret",
        FAKE_CLIENT_SECRET,
        "--partner-center-refresh-token",
        FAKE_REFRESH_TOKEN,
        "--partner-center-api-base",
        fake.base_url(),
        "--partner-center-token-url",
        &fake.token_url(),
        "--partner-center-certificate-hosts",
        &certificate_host,
        "--partner-center-allow-http-certificates",
    ]
    .map(str::to_owned)
    .into()
}
