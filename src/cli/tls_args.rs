//! The TLS flags, apart so they flatten into any command: [`CertArgs`] (`mayfly cert`),
//! [`TlsServerArgs`] (`--tls-cert`, `--tls-key`, `--tls-client-ca` on a server) and
//! [`TlsClientArgs`] (`--tls`, `--tls-ca`, `--tls-server-name`, `--tls-insecure` on a client),
//! each with its conversion to what the libraries take.

use std::path::PathBuf;

use anyhow::{Context, Result};

use mayfly_clients::tls_conn::ClientTls;

use super::cert::{CertOptions, DEFAULT_DAYS};
use super::exit::Usage;
use super::human::HumanDuration;

/// `mayfly cert`.
#[derive(clap::Args)]
pub struct CertArgs {
    /// Directory to write ca.pem, ca.key, server.pem, server.key, client.pem, client.key into
    /// (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Another name (DNS name or IP address) for the server certificate, besides localhost,
    /// 127.0.0.1 and ::1. Repeatable.
    #[arg(long = "name")]
    pub names: Vec<String>,
    /// Days the certificates are valid.
    #[arg(long, default_value_t = DEFAULT_DAYS)]
    pub days: u32,
    /// Make the server and client certificates already expired (to test that clients refuse
    /// them).
    #[arg(long)]
    pub expired: bool,
    /// Overwrite files that exist.
    #[arg(long)]
    pub force: bool,
}

impl CertArgs {
    /// The library's options.
    pub fn options(&self) -> CertOptions {
        CertOptions {
            out: self.out.clone(),
            names: self.names.clone(),
            days: self.days,
            expired: self.expired,
            force: self.force,
        }
    }
}

/// A server's TLS flags: with `--tls-cert` and `--tls-key` it speaks only TLS.
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "TLS")]
pub struct TlsServerArgs {
    /// Serve TLS with this certificate chain (PEM, leaf first). Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require a client certificate issued by a CA in this PEM file.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Give up on a TLS handshake that has not finished after this long.
    #[arg(long, value_name = "DURATION", default_value_t = HumanDuration(mayfly::tls::DEFAULT_HANDSHAKE_TIMEOUT))]
    pub tls_handshake_timeout: HumanDuration,
}

impl TlsServerArgs {
    /// Whether TLS was asked for.
    pub fn enabled(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// The acceptor, or `None` without `--tls-cert`. Loaded at start: a bad certificate or
    /// key, or a key that does not match, is a usage error (exit 2).
    ///
    /// # Errors
    /// [`Usage`] with the library's message.
    pub fn acceptor(&self) -> Result<Option<mayfly::tls::TlsAcceptor>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let usage = |e: mayfly::tls::ConfigError| anyhow::Error::new(Usage(e.to_string()));
        let mut b = mayfly::tls::AcceptorBuilder::from_pem_files(cert, key).map_err(usage)?;
        if let Some(ca) = &self.tls_client_ca {
            b = b.client_ca_pem_file(ca).map_err(usage)?;
        }
        let acc = b
            .handshake_timeout(self.tls_handshake_timeout.0)
            .build()
            .map_err(usage)?;
        Ok(Some(acc))
    }

    /// Refuses the flags for a build that cannot serve TLS (exit 2).
    ///
    /// # Errors
    /// [`Usage`] naming the build, when TLS was asked for.
    pub fn refuse_for(&self, build: &str, builds_that_can: &str) -> Result<()> {
        if self.enabled() {
            return Err(Usage(format!(
                "--tls-cert/--tls-key: the {build} build does not serve TLS (use one of: {builds_that_can})"
            ))
            .into());
        }
        Ok(())
    }
}

/// The stats page's TLS flags (flattened into `StatsArgs`): its own pair, or
/// `--stats-tls` for the server's `--tls-cert/--tls-key`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct StatsTlsArgs {
    /// Stats page: serve it over HTTPS with the server's own --tls-cert/--tls-key (no client
    /// certificate is asked for, even with --tls-client-ca).
    #[arg(long, requires = "stats_addr", conflicts_with = "stats_tls_cert")]
    pub stats_tls: bool,
    /// Stats page: serve it over HTTPS with this certificate chain (PEM). Needs
    /// --stats-tls-key.
    #[arg(long, value_name = "FILE", requires_all = ["stats_addr", "stats_tls_key"])]
    pub stats_tls_cert: Option<PathBuf>,
    /// Stats page: the private key of --stats-tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "stats_tls_cert")]
    pub stats_tls_key: Option<PathBuf>,
}

impl StatsTlsArgs {
    /// The page's acceptor, or `None` for plain HTTP. `server` is the server's TLS flags
    /// (`None`: a server without them), whose pair `--stats-tls` reuses.
    ///
    /// # Errors
    /// [`Usage`]: a bad certificate or key, `--stats-tls` for a server without
    /// `--tls-cert/--tls-key`.
    pub fn acceptor(
        &self,
        server: Option<&TlsServerArgs>,
    ) -> Result<Option<mayfly::tls::TlsAcceptor>> {
        let usage = |e: mayfly::tls::ConfigError| anyhow::Error::new(Usage(e.to_string()));
        let pair =
            match (&self.stats_tls_cert, &self.stats_tls_key) {
                (Some(c), Some(k)) => (c, k),
                _ if !self.stats_tls => return Ok(None),
                _ => match server.and_then(|t| t.tls_cert.as_ref().zip(t.tls_key.as_ref())) {
                    Some(pair) => pair,
                    None => return Err(Usage(
                        "--stats-tls serves the page with the server's --tls-cert/--tls-key: give \
                         them, or the page's own --stats-tls-cert/--stats-tls-key"
                            .into(),
                    )
                    .into()),
                },
            };
        Ok(Some(
            mayfly::tls::TlsAcceptor::from_pem_files(pair.0, pair.1).map_err(usage)?,
        ))
    }
}

/// A client's TLS flags (global: before or after a subcommand, as `mayfly file`'s `--addr`).
#[derive(clap::Args, Clone, Debug, Default)]
#[command(next_help_heading = "TLS")]
pub struct TlsClientArgs {
    /// Speak TLS to the server.
    #[arg(long, global = true)]
    pub tls: bool,
    /// Trust the CA certificates in this PEM file (a server made by `mayfly cert`: its ca.pem).
    #[arg(long, global = true, value_name = "FILE", requires = "tls")]
    pub tls_ca: Option<PathBuf>,
    /// The name the server's certificate must hold, sent as SNI (default: the host of --addr).
    #[arg(long, global = true, value_name = "NAME", requires = "tls")]
    pub tls_server_name: Option<String>,
    /// Accept any server certificate (no CA, name or date check): encrypted, not
    /// authenticated. Tests only; it prints a warning.
    #[arg(long, global = true, requires = "tls", conflicts_with = "tls_ca")]
    pub tls_insecure: bool,
    /// Present this certificate chain (PEM, leaf first) to a server that checks client
    /// certificates (`serve cmd --tls-client-ca`; `mayfly cert` writes client.pem). Needs
    /// --tls-client-key.
    #[arg(long, global = true, value_name = "FILE", requires_all = ["tls", "tls_client_key"])]
    pub tls_client_cert: Option<PathBuf>,
    /// The private key of --tls-client-cert (PEM).
    #[arg(long, global = true, value_name = "FILE", requires_all = ["tls", "tls_client_cert"])]
    pub tls_client_key: Option<PathBuf>,
}

impl TlsClientArgs {
    /// The connector and server name, or `None` without `--tls`. `--tls-insecure` prints its
    /// warning on stderr here.
    ///
    /// # Errors
    /// [`Usage`]: `--tls` with neither `--tls-ca` nor `--tls-insecure`, a bad CA file, a bad
    /// client certificate or key (or a key that is not the certificate's).
    pub fn client(&self, addr: &str) -> Result<Option<ClientTls>> {
        if !self.tls {
            return Ok(None);
        }
        let usage = |e: mayfly::tls::ConfigError| anyhow::Error::new(Usage(e.to_string()));
        let mut b = mayfly::tls::ConnectorBuilder::new();
        if let Some(ca) = &self.tls_ca {
            b = b.ca_pem_file(ca).map_err(usage)?;
        } else if self.tls_insecure {
            eprintln!(
                "mayfly: WARNING: --tls-insecure: the server's certificate is NOT checked; \
                 anyone on the path can impersonate the server and read the traffic"
            );
            b = b.insecure_skip_verify();
        } else {
            return Err(Usage(
                "--tls needs --tls-ca FILE (the server's CA, e.g. ca.pem from `mayfly cert`) or, for tests only, --tls-insecure".to_string(),
            )
            .into());
        }
        if let (Some(cert), Some(key)) = (&self.tls_client_cert, &self.tls_client_key) {
            b = b.client_cert_pem_files(cert, key).map_err(usage)?;
        }
        let connector = b.build().map_err(usage)?;
        let server_name = match &self.tls_server_name {
            Some(n) => n.clone(),
            None => host_of(addr).with_context(|| format!("no host in --addr {addr}"))?,
        };
        Ok(Some(ClientTls {
            connector,
            server_name,
        }))
    }
}

/// `mayfly compare --tls [--reconnect-every N]`.
#[derive(clap::Args, Clone, Debug, Default)]
#[command(next_help_heading = "TLS")]
pub struct CompareTlsArgs {
    /// Compare the echo builds over TLS (coroutine, threads, tokio; the default --builds
    /// then): a CA and server certificate are made for the run (in --out's `tls/`, else a
    /// temporary directory) and every client connection checks it.
    #[arg(long)]
    pub tls: bool,
    /// The client opens a new connection every N replies (over TLS: a new handshake each
    /// time), so the report shows handshake cost; 0: long connections.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub reconnect_every: u64,
}

impl CompareTlsArgs {
    /// The certificate files for the run, made now, or `None` without `--tls`.
    ///
    /// # Errors
    /// The certificates could not be written.
    pub fn files(
        &self,
        out: Option<&std::path::Path>,
    ) -> Result<Option<mayfly_clients::compare::CompareTls>> {
        if !self.tls {
            return Ok(None);
        }
        let dir = match out {
            Some(o) => o.join("tls"),
            None => std::env::temp_dir().join(format!("mayfly-compare-tls-{}", std::process::id())),
        };
        let o = CertOptions {
            out: dir.clone(),
            names: Vec::new(),
            days: DEFAULT_DAYS,
            expired: false,
            force: true,
        };
        super::cert::make(&o).context("making the certificates for compare --tls")?;
        Ok(Some(mayfly_clients::compare::CompareTls {
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            ca: dir.join("ca.pem"),
        }))
    }
}

/// The host part of `host:port` (`[::1]:80` → `::1`).
fn host_of(addr: &str) -> Option<String> {
    let (host, _port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts() {
        assert_eq!(host_of("127.0.0.1:8080").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_of("[::1]:8080").as_deref(), Some("::1"));
        assert_eq!(host_of("localhost:1").as_deref(), Some("localhost"));
        assert_eq!(host_of(":1"), None);
    }
}
