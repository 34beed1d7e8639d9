//! Certificates for the TLS tests, made with rcgen: a CA, a server certificate for localhost,
//! 127.0.0.1 and ::1 signed by it, a client certificate, an expired server certificate, and a
//! second CA that signed none of them. Written as PEM files into a fresh directory too, for
//! the peers that read files (Python's `ssl`, `openssl s_client`).

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

pub struct Pem {
    pub cert: String,
    pub key: String,
}

pub struct Certs {
    pub ca: String,
    pub other_ca: String,
    pub server: Pem,
    pub client: Pem,
    pub expired: Pem,
    pub dir: PathBuf,
}

impl Certs {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(names: &[&str], issuer: &CertifiedIssuer<'static, KeyPair>, expired: bool) -> Pem {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("client"),
    );
    if expired {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

pub fn make() -> Certs {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let ca_ = ca("mayfly test CA");
    let other = ca("another CA");
    let server = leaf(&["localhost", "127.0.0.1", "::1"], &ca_, false);
    let client = leaf(&[], &ca_, false);
    let expired = leaf(&["localhost", "127.0.0.1"], &ca_, true);
    let dir = std::env::temp_dir().join(format!(
        "mayfly-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let w = |n: &str, s: &str| std::fs::write(dir.join(n), s).unwrap();
    w("ca.pem", &ca_.pem());
    w("other-ca.pem", &other.pem());
    w("server.pem", &server.cert);
    w("server.key", &server.key);
    w("client.pem", &client.cert);
    w("client.key", &client.key);
    w("expired.pem", &expired.cert);
    w("expired.key", &expired.key);
    Certs {
        ca: ca_.pem(),
        other_ca: other.pem(),
        server,
        client,
        expired,
        dir,
    }
}
