//! Where Tollgate may send a request to a URL a tenant gave it (webhook endpoints).
//!
//! A tenant admin registering `https://169.254.169.254/…` or `http://127.0.0.1:6379/` would
//! otherwise make Tollgate probe its own network for them (server-side request forgery). So
//! unless the deployment allows private networks (`--webhooks-allow-private-networks`, for
//! receivers inside the reseller's own network), such URLs are refused when registered, and at
//! delivery every name is resolved by [`PublicResolver`], which drops addresses in private and
//! reserved ranges — checking the addresses actually connected to, so a name that resolved to
//! a public address at registration and to an internal one later (DNS rebinding) is caught too.

use std::{
    net::{IpAddr, SocketAddr},
    sync::LazyLock,
};

use ipnet::IpNet;
use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
};

/// The special-purpose ranges of the IANA IPv4 and IPv6 registries that are not reachable on
/// the public internet (RFC 6890 and successors), plus multicast.
static RESERVED: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ]
    .iter()
    .filter_map(|net| net.parse().ok())
    .collect()
});

/// Whether `ip` is an address on the public internet. IPv4 addresses written as IPv6
/// (`::ffff:10.0.0.1`) are judged as the IPv4 address they are.
pub fn is_public(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    !RESERVED.iter().any(|net| net.contains(&ip))
}

/// Why Tollgate may not send to `url`'s host when private networks are not allowed: an IP
/// literal outside the public internet, or a name that always means this machine.
pub fn refuse_private_host(url: &Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let private = match literal.parse::<IpAddr>() {
        Ok(ip) => !is_public(ip),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    if private {
        Err(
            "points into a private or reserved network; receivers there need the server's \
             --webhooks-allow-private-networks"
                .into(),
        )
    } else {
        Ok(())
    }
}

/// Resolves names with the system resolver and keeps only public addresses; a name with none
/// fails to resolve, so nothing is sent.
#[derive(Debug, Default)]
pub struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Addrs = Box::new(public_addrs(&host).await?.into_iter());
            Ok(addrs)
        })
    }
}

/// The public addresses `host` resolves to (port 0: the URL's port replaces it).
pub async fn public_addrs(
    host: &str,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let all: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    let public: Vec<SocketAddr> = all.iter().copied().filter(|a| is_public(a.ip())).collect();
    if public.is_empty() {
        return Err(format!(
            "{host} resolves only to private or reserved addresses ({}); not sending there",
            all.iter()
                .map(|a| a.ip().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into());
    }
    Ok(public)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for ip in [
            "10.1.2.3",
            "127.0.0.1",
            "169.254.169.254",
            "172.31.255.255",
            "192.168.0.10",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.251",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn private_hosts_are_named() {
        for url in [
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/hook",
            "http://127.0.0.1:6379/",
            "https://[::1]/hook",
            "https://localhost/hook",
            "https://api.LOCALHOST./hook",
        ] {
            assert!(refuse_private_host(&url.parse().unwrap()).is_err(), "{url}");
        }
        assert!(refuse_private_host(&"https://hooks.example.com/x".parse().unwrap()).is_ok());
    }

    #[tokio::test]
    async fn names_of_this_machine_resolve_to_nothing_public() {
        let error = public_addrs("localhost").await.unwrap_err().to_string();
        assert!(error.contains("only to private"), "{error}");
    }
}
