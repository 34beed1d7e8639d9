//! PEM input: a certificate chain, a private key and CA certificates read from files or
//! bytes with rustls-pki-types' parser, each failure a [`ConfigError`] that names the file.
//! Files are read with `std::fs` (call these at start-up, before serving: a read parks the
//! worker, not only the greenlet).

use std::path::Path;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::error::ConfigError;

/// Where PEM bytes came from, for error messages.
pub(crate) struct Source<'a> {
    pub(crate) bytes: std::borrow::Cow<'a, [u8]>,
    pub(crate) origin: String,
}

impl<'a> Source<'a> {
    /// Reads `path` (`what`: what the file is for, in the error).
    pub(crate) fn file(what: &'static str, path: &Path) -> Result<Source<'static>, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            what,
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Source {
            bytes: bytes.into(),
            origin: path.display().to_string(),
        })
    }

    /// Bytes given by the caller.
    pub(crate) fn bytes(bytes: &'a [u8]) -> Source<'a> {
        Source {
            bytes: bytes.into(),
            origin: "the given bytes".to_string(),
        }
    }
}

fn bad(what: &'static str, origin: &str, e: pem::Error) -> ConfigError {
    ConfigError::BadPem {
        what,
        origin: origin.to_string(),
        detail: e.to_string(),
    }
}

/// Every `CERTIFICATE` block, in order (leaf first, then its intermediates).
///
/// # Errors
/// [`ConfigError::NoPem`] when there is none, [`ConfigError::BadPem`] for bad PEM.
pub(crate) fn certs(
    what: &'static str,
    src: &Source<'_>,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let mut out = Vec::new();
    for c in CertificateDer::pem_slice_iter(&src.bytes) {
        out.push(c.map_err(|e| bad(what, &src.origin, e))?);
    }
    if out.is_empty() {
        return Err(ConfigError::NoPem {
            what,
            origin: src.origin.clone(),
            label: "CERTIFICATE",
        });
    }
    Ok(out)
}

/// The first private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
///
/// # Errors
/// [`ConfigError::NoPem`] when there is none, [`ConfigError::BadPem`] for bad PEM.
pub(crate) fn key(src: &Source<'_>) -> Result<PrivateKeyDer<'static>, ConfigError> {
    PrivateKeyDer::from_pem_slice(&src.bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => ConfigError::NoPem {
            what: "private key",
            origin: src.origin.clone(),
            label: "PRIVATE KEY",
        },
        e => bad("private key", &src.origin, e),
    })
}

/// A root store of every `CERTIFICATE` in `src`.
///
/// # Errors
/// As [`certs`], and [`ConfigError::BadCa`] for a certificate that is not a usable anchor.
pub(crate) fn roots(src: &Source<'_>) -> Result<rustls::RootCertStore, ConfigError> {
    let mut store = rustls::RootCertStore::empty();
    for c in certs("CA certificate", src)? {
        store.add(c).map_err(|e| ConfigError::BadCa {
            origin: src.origin.clone(),
            detail: e.to_string(),
        })?;
    }
    Ok(store)
}
