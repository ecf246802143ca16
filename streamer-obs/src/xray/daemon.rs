//! The X-Ray daemon address (`AWS_XRAY_DAEMON_ADDRESS`, rule T-5).
//!
//! Two forms: `host:port` (used for UDP segments and TCP sampling alike) or
//! `tcp:host:port udp:host:port`, space-separated, in either order, both parts required.
//! The default is `127.0.0.1:2000`. Host names are resolved once, when parsed. An
//! invalid value is an error (the SDK then disables tracing with one ERROR line; the Go
//! SDK panics and the Node SDK throws, we do neither).
//!
//! ```
//! use streamer_obs::xray::daemon::DaemonAddress;
//! let a: DaemonAddress = "169.254.79.129:2000".parse().unwrap();
//! assert_eq!(a.udp().to_string(), "169.254.79.129:2000");
//! let b: DaemonAddress = "udp:127.0.0.1:3000 tcp:127.0.0.2:2000".parse().unwrap();
//! assert_eq!((b.udp().port(), b.tcp().port()), (3000, 2000));
//! assert!("tcp:127.0.0.1:2000".parse::<DaemonAddress>().is_err());
//! assert_eq!(DaemonAddress::default().udp().to_string(), "127.0.0.1:2000");
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// Where the daemon listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonAddress {
    udp: SocketAddr,
    tcp: SocketAddr,
}

impl Default for DaemonAddress {
    fn default() -> Self {
        let a: SocketAddr = ([127, 0, 0, 1], 2000).into();
        Self { udp: a, tcp: a }
    }
}

impl DaemonAddress {
    /// The UDP address (segments).
    ///
    /// ```
    /// # use streamer_obs::xray::daemon::DaemonAddress;
    /// let a: DaemonAddress = "tcp:127.0.0.1:2000 udp:127.0.0.1:2001".parse().unwrap();
    /// assert_eq!(a.udp().port(), 2001);
    /// ```
    pub fn udp(&self) -> SocketAddr {
        self.udp
    }
    /// The TCP address (sampling rules; unused inside Lambda).
    ///
    /// ```
    /// # use streamer_obs::xray::daemon::DaemonAddress;
    /// let a: DaemonAddress = "tcp:127.0.0.1:2000 udp:127.0.0.1:2001".parse().unwrap();
    /// assert_eq!(a.tcp().port(), 2000);
    /// ```
    pub fn tcp(&self) -> SocketAddr {
        self.tcp
    }
}

/// Why `AWS_XRAY_DAEMON_ADDRESS` was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid X-Ray daemon address {value:?}: {reason}")]
pub struct DaemonAddressError {
    value: String,
    reason: &'static str,
}

fn err(value: &str, reason: &'static str) -> DaemonAddressError {
    DaemonAddressError { value: value.chars().take(128).collect(), reason }
}

fn host_port(s: &str, whole: &str) -> Result<SocketAddr, DaemonAddressError> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let Some((host, port)) = s.rsplit_once(':') else { return Err(err(whole, "expected host:port")) };
    if host.is_empty() {
        return Err(err(whole, "empty host"));
    }
    let port: u16 = port.parse().map_err(|_| err(whole, "port is not a number from 0 to 65535"))?;
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| err(whole, "host does not resolve"))
}

impl FromStr for DaemonAddress {
    type Err = DaemonAddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let parts: Vec<&str> = s.split_whitespace().collect();
        match parts.as_slice() {
            [one] if !one.starts_with("tcp:") && !one.starts_with("udp:") => {
                let a = host_port(one, s)?;
                Ok(Self { udp: a, tcp: a })
            }
            [a, b] => {
                let (mut udp, mut tcp) = (None, None);
                for p in [a, b] {
                    if let Some(rest) = p.strip_prefix("udp:") {
                        if udp.replace(host_port(rest, s)?).is_some() {
                            return Err(err(s, "udp given twice"));
                        }
                    } else if let Some(rest) = p.strip_prefix("tcp:") {
                        if tcp.replace(host_port(rest, s)?).is_some() {
                            return Err(err(s, "tcp given twice"));
                        }
                    } else {
                        return Err(err(s, "expected tcp:host:port udp:host:port"));
                    }
                }
                match (udp, tcp) {
                    (Some(udp), Some(tcp)) => Ok(Self { udp, tcp }),
                    _ => Err(err(s, "both tcp: and udp: are required")),
                }
            }
            [] => Err(err(s, "empty")),
            _ => Err(err(s, "expected host:port or tcp:host:port udp:host:port")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse() {
        let a: DaemonAddress = "127.0.0.1:2000".parse().unwrap();
        assert_eq!(a.udp(), a.tcp());
        let b: DaemonAddress = "tcp:127.0.0.1:2001 udp:127.0.0.1:2002".parse().unwrap();
        assert_eq!((b.tcp().port(), b.udp().port()), (2001, 2002));
        let c: DaemonAddress = "  udp:127.0.0.1:2002   tcp:127.0.0.1:2001 ".parse().unwrap();
        assert_eq!(b, c);
        let d: DaemonAddress = "localhost:2000".parse().unwrap();
        assert_eq!(d.udp().port(), 2000);
        let v6: DaemonAddress = "[::1]:2000".parse().unwrap();
        assert!(v6.udp().is_ipv6());
    }

    #[test]
    fn invalid_forms_are_errors() {
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:abc",
            "127.0.0.1:70000",
            ":2000",
            "tcp:127.0.0.1:2000",
            "udp:127.0.0.1:2000",
            "udp:127.0.0.1:2000 udp:127.0.0.1:2001",
            "tcp:127.0.0.1:2000 foo:127.0.0.1:2001",
            "a:1 b:2 c:3",
        ] {
            assert!(bad.parse::<DaemonAddress>().is_err(), "{bad:?}");
        }
    }
}
