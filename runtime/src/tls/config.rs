//! The two TLS configurations, built from PEM: [`TlsAcceptor`] (a server's certificate chain
//! and key, optional client-certificate check, ALPN, handshake timeout; [`AcceptorBuilder`])
//! and [`TlsConnector`] (the CAs a client trusts, an optional client certificate, ALPN,
//! handshake timeout; [`ConnectorBuilder`]). Both use rustls's ring provider, TLS 1.2 and 1.3.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::error::ConfigError;
use super::pem::{self, Source};

/// How long a handshake may take, from the first byte read to the last written, before it
/// fails with [`HandshakeError::Timeout`](super::HandshakeError::Timeout): 10 s. A client
/// that connects and sends nothing (or stalls half-way) holds its connection slot no longer.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The crypto provider every mayfly configuration uses: ring.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server's TLS side: what [`TlsAcceptor::accept`] handshakes with. Cheap to clone (the
/// configuration is shared).
///
/// ```no_run
/// let acceptor = mayfly::tls::TlsAcceptor::from_pem_files("server.pem", "server.key")?;
/// # Ok::<(), mayfly::tls::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TlsAcceptor {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) handshake_timeout: Duration,
    /// Built with a client CA: every client must present a certificate it issued.
    pub(crate) client_auth: bool,
}

impl TlsAcceptor {
    /// A server with the certificate chain in `cert` (PEM, leaf first) and the key in `key`
    /// (PEM: PKCS#8, PKCS#1 or SEC1), no client certificates, no ALPN.
    ///
    /// # Errors
    /// [`ConfigError`]: a file that cannot be read, no or bad PEM, a key that does not match
    /// the certificate ([`ConfigError::KeyMismatch`]).
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsAcceptor, ConfigError> {
        AcceptorBuilder::from_pem_files(cert, key)?.build()
    }

    /// As [`from_pem_files`](Self::from_pem_files), from PEM bytes.
    ///
    /// # Errors
    /// As [`from_pem_files`](Self::from_pem_files).
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<TlsAcceptor, ConfigError> {
        AcceptorBuilder::from_pem(cert, key)?.build()
    }

    /// A server on a rustls configuration built elsewhere.
    /// [`requires_client_certificate`](Self::requires_client_certificate) is `false` for
    /// it: rustls does not say what its verifier demands.
    pub fn from_config(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            client_auth: false,
        }
    }

    /// Sets the handshake timeout (default [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn handshake_timeout(mut self, t: Duration) -> TlsAcceptor {
        self.handshake_timeout = t;
        self
    }

    /// The handshake timeout in force.
    pub fn timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Whether every client must present a certificate issued by a trusted CA (built with
    /// [`AcceptorBuilder::client_ca_pem_file`] or its siblings). A server that trusts its
    /// peers only for their certificate (the command server beyond loopback) checks this.
    ///
    /// ```no_run
    /// let acceptor = mayfly::tls::TlsAcceptor::from_pem_files("server.pem", "server.key")?;
    /// assert!(!acceptor.requires_client_certificate());
    /// # Ok::<(), mayfly::tls::ConfigError>(())
    /// ```
    pub fn requires_client_certificate(&self) -> bool {
        self.client_auth
    }
}

/// Builds a [`TlsAcceptor`]: chain and key, then optional ALPN, client CA, timeout.
///
/// ```no_run
/// use std::time::Duration;
/// use mayfly::tls::AcceptorBuilder;
/// let acceptor = AcceptorBuilder::from_pem_files("server.pem", "server.key")?
///     .alpn(["h2", "http/1.1"])
///     .client_ca_pem_file("ca.pem")?          // ask for and check a client certificate
///     .handshake_timeout(Duration::from_secs(5))
///     .build()?;
/// # Ok::<(), mayfly::tls::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct AcceptorBuilder {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: Option<RootCertStore>,
    alpn: Vec<Vec<u8>>,
    handshake_timeout: Duration,
}

impl AcceptorBuilder {
    /// Reads the chain and key from PEM files.
    ///
    /// # Errors
    /// A file that cannot be read, no PEM item of the kind, bad PEM.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<AcceptorBuilder, ConfigError> {
        let chain = pem::certs("certificate", &Source::file("certificate", cert.as_ref())?)?;
        let key = pem::key(&Source::file("private key", key.as_ref())?)?;
        Ok(Self::from_der(chain, key))
    }

    /// Reads the chain and key from PEM bytes.
    ///
    /// # Errors
    /// No PEM item of the kind, bad PEM.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<AcceptorBuilder, ConfigError> {
        let chain = pem::certs("certificate", &Source::bytes(cert))?;
        let key = pem::key(&Source::bytes(key))?;
        Ok(Self::from_der(chain, key))
    }

    /// From a DER chain (leaf first) and key.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> AcceptorBuilder {
        AcceptorBuilder {
            chain,
            key,
            client_roots: None,
            alpn: Vec::new(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// The ALPN protocols offered, in preference order (a client offering none of them is
    /// refused with `no_application_protocol`).
    pub fn alpn<P: Into<Vec<u8>>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.alpn = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Requires a client certificate issued by a CA in the PEM file `ca`.
    ///
    /// # Errors
    /// As [`from_pem_files`](Self::from_pem_files), and [`ConfigError::BadCa`].
    pub fn client_ca_pem_file(self, ca: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let roots = pem::roots(&Source::file("CA", ca.as_ref())?)?;
        Ok(self.client_roots(roots))
    }

    /// Requires a client certificate issued by a CA in the PEM bytes `ca`.
    ///
    /// # Errors
    /// As [`client_ca_pem_file`](Self::client_ca_pem_file).
    pub fn client_ca_pem(self, ca: &[u8]) -> Result<Self, ConfigError> {
        let roots = pem::roots(&Source::bytes(ca))?;
        Ok(self.client_roots(roots))
    }

    /// Requires a client certificate issued by one of `roots`.
    pub fn client_roots(mut self, roots: RootCertStore) -> Self {
        self.client_roots = Some(roots);
        self
    }

    /// Sets the handshake timeout (default [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn handshake_timeout(mut self, t: Duration) -> Self {
        self.handshake_timeout = t;
        self
    }

    /// The acceptor.
    ///
    /// # Errors
    /// [`ConfigError::KeyMismatch`] for a key that is not the certificate's,
    /// [`ConfigError::BadKey`], [`ConfigError::BadChain`], [`ConfigError::BadCa`].
    pub fn build(self) -> Result<TlsAcceptor, ConfigError> {
        let provider = provider();
        let versions = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(ConfigError::Rustls)?;
        let client_auth = self.client_roots.is_some();
        let with_auth = match self.client_roots {
            None => versions.with_no_client_auth(),
            Some(roots) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| ConfigError::BadCa {
                            origin: "the client CA".to_string(),
                            detail: e.to_string(),
                        })?;
                versions.with_client_cert_verifier(verifier)
            }
        };
        let mut config = with_auth
            .with_single_cert(self.chain, self.key)
            .map_err(cert_key_error)?;
        config.alpn_protocols = self.alpn;
        Ok(TlsAcceptor {
            config: Arc::new(config),
            handshake_timeout: self.handshake_timeout,
            client_auth,
        })
    }
}

/// Sorts what rustls said about a certificate and key pair.
fn cert_key_error(e: rustls::Error) -> ConfigError {
    match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            ConfigError::KeyMismatch
        }
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            ConfigError::BadChain(e)
        }
        rustls::Error::General(_) => ConfigError::BadKey(e),
        other => ConfigError::Rustls(other),
    }
}

/// A client's TLS side: what [`TlsConnector::connect`] handshakes with. Cheap to clone.
///
/// ```no_run
/// use mayfly::net::TcpStream;
/// use mayfly::tls::TlsConnector;
/// mayfly::run(|| -> std::io::Result<()> {
///     let connector = TlsConnector::from_ca_pem_file("ca.pem")?;
///     let tcp = TcpStream::connect("localhost:8443")?;
///     let mut tls = connector.connect("localhost", tcp)?;
///     tls.sendall(b"hello")?;
///     Ok(())
/// })
/// .unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct TlsConnector {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) handshake_timeout: Duration,
}

impl TlsConnector {
    /// A client that trusts the CA certificates in the PEM file `ca`.
    ///
    /// # Errors
    /// A file that cannot be read, no or bad PEM, [`ConfigError::BadCa`].
    pub fn from_ca_pem_file(ca: impl AsRef<Path>) -> Result<TlsConnector, ConfigError> {
        ConnectorBuilder::new().ca_pem_file(ca)?.build()
    }

    /// A client that trusts the CA certificates in the PEM bytes `ca`.
    ///
    /// # Errors
    /// As [`from_ca_pem_file`](Self::from_ca_pem_file).
    pub fn from_ca_pem(ca: &[u8]) -> Result<TlsConnector, ConfigError> {
        ConnectorBuilder::new().ca_pem(ca)?.build()
    }

    /// A client on a rustls configuration built elsewhere.
    pub fn from_config(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Sets the handshake timeout (default [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn handshake_timeout(mut self, t: Duration) -> TlsConnector {
        self.handshake_timeout = t;
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}

/// Builds a [`TlsConnector`]: the CAs trusted (or, for tests only, none checked), an optional
/// client certificate, ALPN, timeout.
///
/// ```no_run
/// use mayfly::tls::ConnectorBuilder;
/// let connector = ConnectorBuilder::new()
///     .ca_pem_file("ca.pem")?
///     .client_cert_pem_files("client.pem", "client.key")?
///     .alpn(["http/1.1"])
///     .build()?;
/// # Ok::<(), mayfly::tls::ConfigError>(())
/// ```
#[derive(Debug, Default)]
pub struct ConnectorBuilder {
    roots: Option<RootCertStore>,
    insecure: bool,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    alpn: Vec<Vec<u8>>,
    handshake_timeout: Option<Duration>,
}

impl ConnectorBuilder {
    /// Trusts nothing yet: add CAs, or [`insecure_skip_verify`](Self::insecure_skip_verify).
    pub fn new() -> ConnectorBuilder {
        ConnectorBuilder::default()
    }

    /// Also trusts the CA certificates in the PEM file `ca`.
    ///
    /// # Errors
    /// A file that cannot be read, no or bad PEM, [`ConfigError::BadCa`].
    pub fn ca_pem_file(self, ca: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let src = Source::file("CA", ca.as_ref())?;
        self.add_roots(&src)
    }

    /// Also trusts the CA certificates in the PEM bytes `ca`.
    ///
    /// # Errors
    /// As [`ca_pem_file`](Self::ca_pem_file).
    pub fn ca_pem(self, ca: &[u8]) -> Result<Self, ConfigError> {
        self.add_roots(&Source::bytes(ca))
    }

    fn add_roots(mut self, src: &Source<'_>) -> Result<Self, ConfigError> {
        let more = pem::roots(src)?;
        let roots = self.roots.get_or_insert_with(RootCertStore::empty);
        roots.roots.extend(more.roots);
        Ok(self)
    }

    /// Accepts any server certificate (any issuer, name or date): `--tls-insecure`. The
    /// connection is encrypted but not authenticated; anyone on the path can read it. Tests
    /// against a self-signed server only.
    pub fn insecure_skip_verify(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// Presents the certificate chain in `cert` with the key in `key` when a server asks.
    ///
    /// # Errors
    /// As [`AcceptorBuilder::from_pem_files`].
    pub fn client_cert_pem_files(
        mut self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, ConfigError> {
        let chain = pem::certs("certificate", &Source::file("certificate", cert.as_ref())?)?;
        let key = pem::key(&Source::file("private key", key.as_ref())?)?;
        self.client_cert = Some((chain, key));
        Ok(self)
    }

    /// Presents the chain and key in PEM bytes when a server asks.
    ///
    /// # Errors
    /// As [`AcceptorBuilder::from_pem`].
    pub fn client_cert_pem(mut self, cert: &[u8], key: &[u8]) -> Result<Self, ConfigError> {
        let chain = pem::certs("certificate", &Source::bytes(cert))?;
        let key = pem::key(&Source::bytes(key))?;
        self.client_cert = Some((chain, key));
        Ok(self)
    }

    /// The ALPN protocols to offer, in preference order.
    pub fn alpn<P: Into<Vec<u8>>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.alpn = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the handshake timeout (default [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn handshake_timeout(mut self, t: Duration) -> Self {
        self.handshake_timeout = Some(t);
        self
    }

    /// The connector.
    ///
    /// # Errors
    /// [`ConfigError::NoTrust`] with neither a CA nor
    /// [`insecure_skip_verify`](Self::insecure_skip_verify); for a client certificate, as
    /// [`AcceptorBuilder::build`].
    pub fn build(self) -> Result<TlsConnector, ConfigError> {
        let provider = provider();
        let versions = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(ConfigError::Rustls)?;
        let verified = if self.insecure {
            versions
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(super::insecure::AcceptAnyServerCert(
                    provider,
                )))
        } else {
            match self.roots {
                Some(roots) if !roots.is_empty() => versions.with_root_certificates(roots),
                _ => return Err(ConfigError::NoTrust),
            }
        };
        let mut config = match self.client_cert {
            None => verified.with_no_client_auth(),
            Some((chain, key)) => verified
                .with_client_auth_cert(chain, key)
                .map_err(cert_key_error)?,
        };
        config.alpn_protocols = self.alpn;
        Ok(TlsConnector {
            config: Arc::new(config),
            handshake_timeout: self.handshake_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT),
        })
    }
}
