//! The server name (SNI) a client asked for, read from its ClientHello's first record.
//!
//! rustls's unbuffered server connection (which [`TlsStream`](super::TlsStream) runs on) does
//! not expose the name it read, and its certificate resolver is not called on a resumed
//! session, so the handshake reads it here from the bytes rustls is about to process. The
//! name is kept as rustls keeps it: a valid DNS name, lowercased; an IP address or an
//! invalid name is no name (rustls ignores those too), and rustls still refuses a malformed
//! ClientHello itself.

use rustls::pki_types::DnsName;

/// What the first bytes of a connection say about its server name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sni {
    /// The first record is not complete yet.
    NeedMore,
    /// The ClientHello names this server.
    Name(String),
    /// No name (none sent, not a DNS name, or not a ClientHello in one record).
    None,
}

/// Reads the SNI host name from `bytes`, the start of what the client sent.
pub(crate) fn server_name(bytes: &[u8]) -> Sni {
    if bytes.len() < 5 {
        return Sni::NeedMore;
    }
    // A handshake record (22); its length.
    if bytes[0] != 22 {
        return Sni::None;
    }
    let len = u16::from_be_bytes([bytes[3], bytes[4]]) as usize;
    if bytes.len() < 5 + len {
        return Sni::NeedMore;
    }
    match parse(&bytes[5..5 + len]) {
        Some(name) => Sni::Name(name),
        None => Sni::None,
    }
}

/// A cursor over a message, every read bounds-checked.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| b[0] as usize)
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize)
    }
    /// A field with a `width`-byte length in front.
    fn vec(&mut self, width: usize) -> Option<Cursor<'a>> {
        let n = match width {
            1 => self.u8()?,
            2 => self.u16()?,
            _ => self.u24()?,
        };
        self.take(n).map(Cursor)
    }
}

/// The host name of a ClientHello message (RFC 8446 §4.1.2, RFC 6066 §3).
fn parse(record: &[u8]) -> Option<String> {
    let mut c = Cursor(record);
    if c.u8()? != 1 {
        return None; // not a ClientHello
    }
    let mut hello = c.vec(3)?;
    hello.take(2 + 32)?; // legacy_version, random
    hello.vec(1)?; // legacy_session_id
    hello.vec(2)?; // cipher_suites
    hello.vec(1)?; // legacy_compression_methods
    let mut extensions = hello.vec(2)?;
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let mut body = extensions.vec(2)?;
        if kind != 0 {
            continue;
        }
        let mut names = body.vec(2)?;
        while !names.0.is_empty() {
            let name_type = names.u8()?;
            let name = names.vec(2)?.0;
            if name_type == 0 {
                let name = std::str::from_utf8(name).ok()?;
                let dns = DnsName::try_from(name).ok()?;
                return Some(dns.as_ref().to_ascii_lowercase());
            }
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record with these extensions (type, body).
    fn hello(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut ext = Vec::new();
        for (kind, body) in extensions {
            ext.extend_from_slice(&kind.to_be_bytes());
            ext.extend_from_slice(&(body.len() as u16).to_be_bytes());
            ext.extend_from_slice(body);
        }
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0u8; 32]);
        body.extend_from_slice(&[0]); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one suite
        body.extend_from_slice(&[1, 0]); // null compression
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut msg = vec![1];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&body);
        let mut rec = vec![22, 3, 1];
        rec.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        rec.extend_from_slice(&msg);
        rec
    }

    fn sni_ext(name: &[u8]) -> (u16, Vec<u8>) {
        let mut list = vec![0];
        list.extend_from_slice(&(name.len() as u16).to_be_bytes());
        list.extend_from_slice(name);
        let mut body = (list.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(&list);
        (0, body)
    }

    #[test]
    fn the_name_is_read_lowercased_after_other_extensions() {
        let rec = hello(&[(10, vec![0, 2, 0, 29]), sni_ext(b"Example.COM")]);
        assert_eq!(server_name(&rec), Sni::Name("example.com".into()));
    }

    #[test]
    fn a_partial_record_asks_for_more_and_bad_input_is_no_name() {
        let rec = hello(&[sni_ext(b"localhost")]);
        assert_eq!(server_name(&rec[..4]), Sni::NeedMore);
        assert_eq!(server_name(&rec[..rec.len() - 1]), Sni::NeedMore);
        assert_eq!(server_name(&hello(&[])), Sni::None, "no extension");
        assert_eq!(
            server_name(&hello(&[sni_ext(b"127.0.0.1")])),
            Sni::None,
            "an IP"
        );
        assert_eq!(server_name(&hello(&[sni_ext(b"bad name!")])), Sni::None);
        assert_eq!(server_name(b"GET / HTTP/1.1\r\n"), Sni::None, "plaintext");
        // A length that runs past the record is no name, never a panic.
        let mut cut = hello(&[sni_ext(b"localhost")]);
        let n = cut.len();
        cut[n - 11] = 0xff; // the name's length
        assert_eq!(server_name(&cut), Sni::None);
    }
}
