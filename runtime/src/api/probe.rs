//! `<app> health`: asks a running app's `GET /health` and says whether it answered `200`.
//!
//! A container image built by `dozerc build --image` holds the app binary and nothing else (no
//! shell, no curl), so its health check is the binary itself. One request on loopback needs no
//! HTTP client library: the probe writes an HTTP/1.0 request and reads the status line, which is
//! all a health check looks at.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

/// Asks `http://<host>:<port>/health`; `Ok` with the status line when it answers 200. A server
/// listening on every interface (`0.0.0.0`, `::`) is asked on loopback.
pub fn health(host: &str, port: u16, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .map(|a| SocketAddr::new(on_loopback_if_unspecified(a.ip()), a.port()))
        .collect();
    let mut last = format!("{host}:{port} has no address");
    for addr in addrs {
        match ask(addr, deadline) {
            Ok(status) => return Ok(status),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn on_loopback_if_unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

fn ask(addr: SocketAddr, deadline: Instant) -> Result<String, String> {
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let fail = |e: std::io::Error| format!("http://{addr}/health: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, left()).map_err(fail)?;
    stream.set_write_timeout(Some(left())).map_err(fail)?;
    stream
        .write_all(
            format!("GET /health HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: dozer-health\r\n\r\n")
                .as_bytes(),
        )
        .map_err(fail)?;
    // The status line is in the first bytes; the rest of the answer is not needed.
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 8192 {
        stream.set_read_timeout(Some(left())).map_err(fail)?;
        match stream.read(&mut buf).map_err(fail)? {
            0 => break,
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status = text.lines().next().unwrap_or_default().trim().to_string();
    match status.split_whitespace().nth(1) {
        Some("200") => Ok(status),
        Some(_) => Err(format!("http://{addr}/health answered `{status}`")),
        None => Err(format!(
            "http://{addr}/health did not answer HTTP (first bytes: {:?})",
            text.chars().take(40).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_address_is_asked_on_loopback() {
        assert_eq!(
            on_loopback_if_unspecified("0.0.0.0".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            on_loopback_if_unspecified("::".parse().unwrap()),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        let other: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(on_loopback_if_unspecified(other), other);
    }

    #[test]
    fn nothing_listening_is_unhealthy_with_the_address_in_the_message() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = health("127.0.0.1", port, Duration::from_millis(500)).unwrap_err();
        assert!(e.contains(&format!("127.0.0.1:{port}/health")), "{e}");
    }

    #[test]
    fn a_non_200_answer_is_unhealthy() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        });
        let e = health("127.0.0.1", port, Duration::from_secs(2)).unwrap_err();
        assert!(e.contains("503"), "{e}");
        server.join().unwrap();
    }
}
