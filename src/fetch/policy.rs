//! The outbound policy: which addresses a URL taken from remote content may
//! reach. A page's article links (and, later, a feed item's full text) are
//! written by whoever writes the page; followed blindly they would make the
//! daemon fetch `http://127.0.0.1:…/admin` or a cloud metadata service and
//! publish what it found. So such a URL never reaches a loopback, private,
//! shared (CGNAT), link-local, unique-local, multicast, unspecified,
//! broadcast or reserved address, nor an IPv6 form embedding one of those,
//! however it is spelled.
//!
//! Two checks, because there are two ways to name an address:
//! - an IP-literal host is checked before the request ([`OutboundPolicy::check_literal`]);
//!   the `url` crate has already read `2130706433`, `0x7f000001`,
//!   `017700000001` and `[::ffff:127.0.0.1]` as the addresses they are, and
//!   the HTTP client connects to a literal without resolving it;
//! - a name is checked on the addresses it resolves to, at connect time, by
//!   [`GuardedResolver`], the resolver of the client that fetches remote
//!   URLs: the addresses checked are the ones connected to, so a name that
//!   resolves elsewhere a moment later (DNS rebinding) gains nothing.
//!
//! Every redirect hop is a request of its own through the same checks
//! (`Fetcher` follows redirects itself). What stays allowed is the admin's
//! choice: the configured source URL, and anything on its origin.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::{Host, Url};

/// The config key that lets remote URLs reach the ranges this policy refuses.
pub const ALLOW_KEY: &str = "poll.allow_private_follow";

/// A range of addresses a URL from remote content may not reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`; and the
    /// deprecated IPv6 site-local `fec0::/10`.
    Private,
    /// RFC 6598's carrier-grade NAT space, `100.64.0.0/10`.
    Shared,
    /// `169.254.0.0/16` (where cloud metadata services answer), `fe80::/10`.
    LinkLocal,
    /// `fc00::/7`.
    UniqueLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `0.0.0.0/8` ("this network"), `::`.
    Unspecified,
    /// `255.255.255.255`.
    Broadcast,
    /// `240.0.0.0/4`, the IETF protocol block `192.0.0.0/24` and the
    /// benchmarking block `198.18.0.0/15`: nothing public answers there.
    Reserved,
}

impl Range {
    /// A short, stable name, for metric labels.
    pub fn label(self) -> &'static str {
        match self {
            Range::Loopback => "loopback",
            Range::Private => "private",
            Range::Shared => "shared",
            Range::LinkLocal => "link_local",
            Range::UniqueLocal => "unique_local",
            Range::Multicast => "multicast",
            Range::Unspecified => "unspecified",
            Range::Broadcast => "broadcast",
            Range::Reserved => "reserved",
        }
    }

    /// The range in words, with its article: "a loopback address".
    pub fn described(self) -> &'static str {
        match self {
            Range::Loopback => "a loopback address",
            Range::Private => "a private address",
            Range::Shared => "a shared (carrier-grade NAT) address",
            Range::LinkLocal => "a link-local address",
            Range::UniqueLocal => "a unique-local address",
            Range::Multicast => "a multicast address",
            Range::Unspecified => "an unspecified address",
            Range::Broadcast => "the broadcast address",
            Range::Reserved => "a reserved address",
        }
    }
}

/// The range `ip` falls in, when it is one a remote URL may not reach;
/// `None` for a public address.
pub fn forbidden_range(ip: IpAddr) -> Option<Range> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<Range> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some(Range::Loopback)
    } else if ip.is_private() {
        Some(Range::Private)
    } else if a == 100 && (b & 0xc0) == 64 {
        Some(Range::Shared)
    } else if ip.is_link_local() {
        Some(Range::LinkLocal)
    } else if ip.is_multicast() {
        Some(Range::Multicast)
    } else if ip.is_broadcast() {
        Some(Range::Broadcast)
    } else if a == 0 {
        Some(Range::Unspecified)
    } else if a >= 240 || (a == 192 && b == 0 && c == 0) || (a == 198 && (b & 0xfe) == 18) {
        Some(Range::Reserved)
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<Range> {
    let segments = ip.segments();
    if ip.is_loopback() {
        return Some(Range::Loopback);
    }
    if ip.is_unspecified() {
        return Some(Range::Unspecified);
    }
    // The forms that carry an IPv4 address are judged by it: mapped
    // (`::ffff:a.b.c.d`), the deprecated compatible form (`::a.b.c.d`),
    // NAT64's well-known prefix (`64:ff9b::/96`) and 6to4 (`2002::/16`).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let low_v4 = || Ipv4Addr::from(u128::from(ip) as u32);
    if segments[..6] == [0; 6] {
        return forbidden_v4(low_v4());
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(low_v4());
    }
    if segments[0] == 0x2002 {
        let [hi, lo] = [segments[1], segments[2]];
        let v4 = Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
        return forbidden_v4(v4);
    }
    if ip.is_multicast() {
        Some(Range::Multicast)
    } else if ip.is_unicast_link_local() {
        Some(Range::LinkLocal)
    } else if ip.is_unique_local() {
        Some(Range::UniqueLocal)
    } else if (segments[0] & 0xffc0) == 0xfec0 {
        Some(Range::Private)
    } else {
        None
    }
}

/// A remote URL's host that names, or resolves only to, addresses the
/// policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves to {addr}, {}", range.described())]
pub struct Refused {
    /// The host as the URL names it.
    pub host: String,
    /// The first refused address it names or resolves to.
    pub addr: IpAddr,
    /// The range that address is in.
    pub range: Range,
}

/// Where remote URLs may go: everywhere (`poll.allow_private_follow`), or
/// only to public addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboundPolicy {
    /// Whether remote URLs may reach private and local addresses.
    pub allow_private: bool,
}

impl OutboundPolicy {
    /// Checks a remote URL whose host is an IP literal, which no resolver
    /// sees. A URL with a name passes here; [`GuardedResolver`] checks it.
    pub fn check_literal(&self, url: &Url) -> Result<(), Refused> {
        if self.allow_private {
            return Ok(());
        }
        let addr = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(Host::Domain(_)) | None => return Ok(()),
        };
        match forbidden_range(addr) {
            Some(range) => Err(Refused {
                host: url.host_str().unwrap_or_default().to_owned(),
                addr,
                range,
            }),
            None => Ok(()),
        }
    }
}

/// The resolver of the client that fetches remote URLs: the system's
/// resolver, with every address the policy refuses taken out. A name left
/// with no address fails with [`Refused`], which the fetcher finds in the
/// client's error.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused) = keep_public(&resolved);
            if allowed.is_empty() {
                return Err(match refused {
                    Some((addr, range)) => Box::new(Refused { host, addr, range }) as _,
                    None => format!("{host} resolves to no address").into(),
                });
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The public addresses of `resolved`, in order, and the first refused one.
fn keep_public(resolved: &[SocketAddr]) -> (Vec<SocketAddr>, Option<(IpAddr, Range)>) {
    let mut refused = None;
    let allowed = resolved
        .iter()
        .filter(|addr| match forbidden_range(addr.ip()) {
            Some(range) => {
                refused.get_or_insert((addr.ip(), range));
                false
            }
            None => true,
        })
        .copied()
        .collect();
    (allowed, refused)
}

/// The [`Refused`] in `error`'s cause chain, if the policy is why it failed.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(refused) = error.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        cause = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range_of(text: &str) -> Option<Range> {
        forbidden_range(text.parse().unwrap())
    }

    #[test]
    fn every_refused_range_is_named_and_public_addresses_pass() {
        let cases = [
            ("127.0.0.1", Some(Range::Loopback)),
            ("127.255.255.254", Some(Range::Loopback)),
            ("10.1.2.3", Some(Range::Private)),
            ("172.16.0.1", Some(Range::Private)),
            ("172.31.255.255", Some(Range::Private)),
            ("192.168.1.1", Some(Range::Private)),
            ("100.64.0.1", Some(Range::Shared)),
            ("100.127.255.255", Some(Range::Shared)),
            ("169.254.169.254", Some(Range::LinkLocal)),
            ("224.0.0.1", Some(Range::Multicast)),
            ("239.255.255.250", Some(Range::Multicast)),
            ("255.255.255.255", Some(Range::Broadcast)),
            ("0.0.0.0", Some(Range::Unspecified)),
            ("0.1.2.3", Some(Range::Unspecified)),
            ("240.0.0.1", Some(Range::Reserved)),
            ("192.0.0.8", Some(Range::Reserved)),
            ("198.18.0.1", Some(Range::Reserved)),
            ("::1", Some(Range::Loopback)),
            ("::", Some(Range::Unspecified)),
            ("fe80::1", Some(Range::LinkLocal)),
            ("febf::1", Some(Range::LinkLocal)),
            ("fc00::1", Some(Range::UniqueLocal)),
            ("fd12:3456::1", Some(Range::UniqueLocal)),
            ("fec0::1", Some(Range::Private)),
            ("ff02::1", Some(Range::Multicast)),
            ("::ffff:127.0.0.1", Some(Range::Loopback)),
            ("::ffff:169.254.169.254", Some(Range::LinkLocal)),
            ("::ffff:10.0.0.1", Some(Range::Private)),
            ("::127.0.0.1", Some(Range::Loopback)),
            ("::10.0.0.1", Some(Range::Private)),
            ("64:ff9b::127.0.0.1", Some(Range::Loopback)),
            ("64:ff9b::a9fe:a9fe", Some(Range::LinkLocal)),
            ("2002:7f00:1::", Some(Range::Loopback)),
            ("2002:c0a8:101::1", Some(Range::Private)),
            // Public ones, and the neighbours of each refused block.
            ("93.184.216.34", None),
            ("8.8.8.8", None),
            ("172.15.255.255", None),
            ("172.32.0.1", None),
            ("100.63.255.255", None),
            ("100.128.0.1", None),
            ("169.253.1.1", None),
            ("198.17.255.255", None),
            ("198.20.0.1", None),
            ("223.255.255.255", None),
            ("2606:4700::1111", None),
            ("::ffff:93.184.216.34", None),
            ("64:ff9b::808:808", None),
            ("2002:808:808::", None),
            ("fbff::1", None),
        ];
        for (addr, expected) in cases {
            assert_eq!(range_of(addr), expected, "{addr}");
        }
    }

    #[test]
    fn every_spelling_of_a_literal_is_caught() {
        let policy = OutboundPolicy::default();
        let spellings = [
            ("http://127.0.0.1:8080/x", Range::Loopback),
            ("http://2130706433/x", Range::Loopback),
            ("http://0x7f000001:81/", Range::Loopback),
            ("http://017700000001/", Range::Loopback),
            ("http://0x7f.0.0.1/", Range::Loopback),
            ("http://127.1/", Range::Loopback),
            ("http://[::1]:8080/", Range::Loopback),
            ("http://[::ffff:127.0.0.1]/", Range::Loopback),
            ("http://[::ffff:7f00:1]/", Range::Loopback),
            ("http://[0:0:0:0:0:ffff:127.0.0.1]/", Range::Loopback),
            ("http://169.254.169.254/latest/meta-data/", Range::LinkLocal),
            ("http://0251.0376.0251.0376/", Range::LinkLocal),
            ("https://10.0.0.1/", Range::Private),
            ("http://0.0.0.0:80/", Range::Unspecified),
            ("http://[fd00::1]/", Range::UniqueLocal),
        ];
        for (text, range) in spellings {
            let url = Url::parse(text).unwrap();
            let refused = policy.check_literal(&url).expect_err(text);
            assert_eq!(refused.range, range, "{text}");
        }
        let refused = policy
            .check_literal(&Url::parse("http://2130706433:9/").unwrap())
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "127.0.0.1 resolves to 127.0.0.1, a loopback address"
        );
        for public in [
            "http://93.184.216.34/",
            "https://news.example.org/",
            "http://localhost/",
        ] {
            // A name is the resolver's to check, not this one's.
            assert!(
                policy.check_literal(&Url::parse(public).unwrap()).is_ok(),
                "{public}"
            );
        }
        let open = OutboundPolicy {
            allow_private: true,
        };
        assert!(
            open.check_literal(&Url::parse("http://127.0.0.1/").unwrap())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn the_resolver_leaves_out_refused_addresses_and_fails_when_none_is_left() {
        let error = GuardedResolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost must not resolve through the guard");
        let refused = refusal_in(error.as_ref()).expect("a refusal");
        assert_eq!(refused.host, "localhost");
        assert_eq!(refused.range, Range::Loopback);
        assert!(
            refused.to_string().starts_with("localhost resolves to "),
            "{refused}"
        );

        let mixed: Vec<SocketAddr> = ["127.0.0.1:0", "93.184.216.34:0", "[fe80::1]:0"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let (allowed, refused) = keep_public(&mixed);
        assert_eq!(allowed, vec!["93.184.216.34:0".parse().unwrap()]);
        assert_eq!(
            refused,
            Some(("127.0.0.1".parse().unwrap(), Range::Loopback))
        );
    }
}
