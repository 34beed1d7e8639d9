//! `mayfly cert --out DIR`: a self-signed CA and, signed by it, a server certificate for
//! `localhost`, `127.0.0.1` and `::1` (plus any `--name`) and a client certificate, as PEM
//! files, made with rcgen (ring). Enough for a TLS session on loopback in three commands, and
//! what the tests use. Keys are written mode 0600; existing files are kept unless `--force`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// How long the certificates are valid by default, in days.
pub const DEFAULT_DAYS: u32 = 365;

/// The names every server certificate holds.
pub const DEFAULT_SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The files written, in order.
pub const FILES: [&str; 6] = [
    "ca.pem",
    "ca.key",
    "server.pem",
    "server.key",
    "client.pem",
    "client.key",
];

/// What to make.
#[derive(Debug, Clone)]
pub struct CertOptions {
    /// The directory (created if missing).
    pub out: PathBuf,
    /// Extra names (DNS names or IP addresses) for the server certificate.
    pub names: Vec<String>,
    /// Days of validity from now.
    pub days: u32,
    /// Make the server and client certificates already expired (for tests of refusal).
    pub expired: bool,
    /// Overwrite existing files.
    pub force: bool,
}

/// Making or writing the certificates failed.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file is there already.
    #[error("{} exists (pass --force to overwrite)", .0.display())]
    Exists(PathBuf),
    /// The directory or a file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// rcgen refused (a bad name, say).
    #[error("cannot make the certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// `--days 0`.
    #[error("--days must be at least 1")]
    NoDays,
}

/// Writes the six files and returns their paths.
///
/// # Errors
/// [`CertError`].
pub fn make(o: &CertOptions) -> Result<Vec<PathBuf>, CertError> {
    if o.days == 0 {
        return Err(CertError::NoDays);
    }
    let paths: Vec<PathBuf> = FILES.iter().map(|f| o.out.join(f)).collect();
    if !o.force {
        if let Some(p) = paths.iter().find(|p| p.exists()) {
            return Err(CertError::Exists(p.clone()));
        }
    }
    std::fs::create_dir_all(&o.out).map_err(|source| CertError::Write {
        path: o.out.clone(),
        source,
    })?;
    let window = validity(o);

    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "mayfly local CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // The CA stays valid for the whole window even when the leaves are made expired.
    set_validity(&mut ca, (window.0, date_from_today(i64::from(o.days))));
    let ca_key = KeyPair::generate()?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca, ca_key)?;

    let mut names: Vec<String> = DEFAULT_SERVER_NAMES.iter().map(|s| s.to_string()).collect();
    names.extend(o.names.iter().cloned());
    let mut server = CertificateParams::new(names)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    set_validity(&mut server, window);
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &ca)?;

    let mut client = CertificateParams::new(Vec::<String>::new())?;
    client
        .distinguished_name
        .push(DnType::CommonName, "mayfly client");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    set_validity(&mut client, window);
    let client_key = KeyPair::generate()?;
    let client_cert = client.signed_by(&client_key, &ca)?;

    let contents = [
        ca.pem(),
        ca_key_pem,
        server_cert.pem(),
        server_key.serialize_pem(),
        client_cert.pem(),
        client_key.serialize_pem(),
    ];
    for (path, text) in paths.iter().zip(contents) {
        let secret = path.extension().is_some_and(|e| e == "key");
        write(path, text.as_bytes(), secret)?;
    }
    Ok(paths)
}

/// The UTC date `days` from today (negative: before), as (year, month, day).
fn date_from_today(days: i64) -> (i32, u8, u8) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    civil_from_days(now.div_euclid(86_400) + days)
}

/// Howard Hinnant's days-since-1970 to proleptic Gregorian date.
fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

/// (not before, not after): from yesterday (clocks differ a little) to `days` from now; or,
/// `expired`, a window of `days` that ended yesterday.
fn validity(o: &CertOptions) -> ((i32, u8, u8), (i32, u8, u8)) {
    let days = i64::from(o.days);
    if o.expired {
        (date_from_today(-days - 1), date_from_today(-1))
    } else {
        (date_from_today(-1), date_from_today(days))
    }
}

fn set_validity(p: &mut CertificateParams, (b, a): ((i32, u8, u8), (i32, u8, u8))) {
    p.not_before = rcgen::date_time_ymd(b.0, b.1, b.2);
    p.not_after = rcgen::date_time_ymd(a.0, a.1, a.2);
}

fn write(path: &Path, bytes: &[u8], secret: bool) -> Result<(), CertError> {
    let err = |source| CertError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)
}

/// `mayfly cert`: writes the files and names them on stdout, one a line, then how to use
/// them. Exit 10 if a file exists (without `--force`), 9 if one cannot be written, 2 for
/// `--days 0`.
pub fn run(o: &CertOptions) -> std::process::ExitCode {
    use super::exit;
    match make(o) {
        Ok(paths) => {
            for p in &paths {
                println!("wrote {}", p.display());
            }
            let d = o.out.display();
            println!(
                "serve:  mayfly serve echo --tls-cert {d}/server.pem --tls-key {d}/server.key\n\
                 client: mayfly stress --tls --tls-ca {d}/ca.pem --addr 127.0.0.1:PORT"
            );
            std::process::ExitCode::from(exit::SUCCESS)
        }
        Err(e) => {
            eprintln!("mayfly: {e}");
            std::process::ExitCode::from(match e {
                CertError::Exists(_) => exit::EXISTS,
                CertError::Write { .. } => exit::LOCAL_IO,
                CertError::NoDays | CertError::Rcgen(_) => exit::USAGE,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }
}
