//! Where a webhook may point. A webhook URL is the user's, but the request comes from the server:
//! pointed at `127.0.0.1`, `10.0.0.5` or `169.254.169.254` it would make spotbot reach the
//! operator's private network (a request forgery). So unless the operator allows private targets
//! (`[notifications] allow_private_targets`, for a server on a private network or for tests), a
//! webhook must be an `http(s)` URL to a host whose every address is public: checked when the
//! channel is created ([`check_webhook_url`]) and again at each connection ([`PublicOnly`], the
//! client's resolver), since a name can resolve elsewhere later. Redirects are not followed.
//!
//! Rust's `IpAddr::is_global` is not stable yet, so the ranges are listed here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The longest webhook URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// Why a webhook URL is refused, for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadTarget(pub String);

/// Checks `text` as a webhook URL: `http` or `https`, a host, at most [`MAX_URL_CHARS`], and
/// (unless `allow_private`) a host that is not a private, loopback or link-local address nor
/// `localhost`. Names are resolved at each delivery, where [`PublicOnly`] checks them again.
pub fn check_webhook_url(text: &str, allow_private: bool) -> Result<url::Url, BadTarget> {
    if text.chars().count() > MAX_URL_CHARS {
        return Err(BadTarget(format!(
            "the URL is longer than {MAX_URL_CHARS} characters"
        )));
    }
    let url = url::Url::parse(text)
        .map_err(|error| BadTarget(format!("not a URL ({error}): give http://… or https://…")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BadTarget(format!(
            "the scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    let Some(host) = url.host() else {
        return Err(BadTarget("the URL has no host".to_owned()));
    };
    if allow_private {
        return Ok(url);
    }
    let private = match host {
        url::Host::Ipv4(address) => !is_public(IpAddr::V4(address)),
        url::Host::Ipv6(address) => !is_public(IpAddr::V6(address)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    if private {
        return Err(BadTarget(
            "the host is a private, loopback or link-local address: webhooks go to public hosts \
             (an operator may allow private ones with [notifications] allow_private_targets)"
                .to_owned(),
        ));
    }
    Ok(url)
}

/// Whether `address` is reachable on the public internet: none of the loopback, private,
/// shared, link-local, documentation, benchmarking, multicast or reserved ranges.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    !(address.is_unspecified()
        || address.is_loopback()
        || address.is_private()
        || address.is_link_local()
        || address.is_broadcast()
        || address.is_documentation()
        || address.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(address: Ipv6Addr) -> bool {
    if let Some(v4) = address.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let first = address.segments()[0];
    !(address.is_unspecified()
        || address.is_loopback()
        || address.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && address.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && address.segments()[1] == 0xff9b) // NAT64, which reaches IPv4 inside
}

/// The webhook client's resolver: the system's, keeping only public addresses, and failing when
/// a name has none (so a name pointed at a private address later is refused too).
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{host} resolves to no public address: webhooks go to public hosts"
                )
                .into());
            }
            let addresses: Addrs = Box::new(found.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_metadata_addresses_are_refused() {
        for url in [
            "http://127.0.0.1/hook",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/",
            "http://[fd00::1]/",
            "http://[::ffff:192.168.1.1]/",
            "http://localhost:9000/",
            "http://api.localhost/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
        ] {
            assert!(check_webhook_url(url, false).is_err(), "{url}");
            assert!(check_webhook_url(url, true).is_ok(), "{url}");
        }
    }

    #[test]
    fn public_hosts_pass_and_other_schemes_do_not() {
        assert!(check_webhook_url("https://hooks.example.com/spotbot?t=1", false).is_ok());
        assert!(check_webhook_url("http://93.184.216.34/", false).is_ok());
        let error = check_webhook_url("file:///etc/passwd", true).unwrap_err();
        assert!(error.0.contains("\"file\""), "{error}");
        assert!(check_webhook_url("ftp://example.com/", true).is_err());
        assert!(check_webhook_url("not a url", true).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(
            check_webhook_url(&long, true)
                .unwrap_err()
                .0
                .contains("2048")
        );
    }

    #[tokio::test]
    async fn the_resolver_drops_private_addresses() {
        let error = PublicOnly
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost has no public address");
        assert!(error.to_string().contains("no public address"), "{error}");
    }
}
