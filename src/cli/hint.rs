//! What a server's failed start means to the person who typed the command: the mistakes
//! people make with `--addr` (`:8080` without a host, a port another program holds) and
//! `--root` become usage errors (exit 2) that say what to type instead.

use std::io;

use super::exit::Usage;

/// Refuses an `--addr` with no host (`:8080`), before anything starts.
///
/// # Errors
///
/// [`Usage`] with the address to type instead.
pub fn check_addr(flag: &str, addr: &str) -> Result<(), Usage> {
    if let Some(port) = addr.strip_prefix(':') {
        return Err(Usage(format!(
            "{flag} {addr}: give a host too, HOST:PORT (127.0.0.1:{port} for this machine only, \
             0.0.0.0:{port} for every interface; port 0, as in 127.0.0.1:0, picks a free one)"
        )));
    }
    Ok(())
}

/// A server start that failed because of its address, as a usage error with a hint; any
/// other failure as it was.
pub fn start_failure(e: anyhow::Error, addr: &str) -> anyhow::Error {
    let kind = e
        .chain()
        .find_map(|c| c.downcast_ref::<io::Error>())
        .map(io::Error::kind);
    let hint = match kind {
        Some(io::ErrorKind::AddrInUse) => format!(
            "another program holds {addr}: stop it, pick another port, or give port 0 \
             (e.g. 127.0.0.1:0) for any free one, printed as `listening on ADDR`"
        ),
        Some(io::ErrorKind::AddrNotAvailable) => format!(
            "{addr} is not an address of this machine: use 127.0.0.1:PORT, or 0.0.0.0:PORT \
             for every interface"
        ),
        _ => return e,
    };
    Usage(format!("{e:#}; {hint}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_without_a_host_is_refused_with_the_fix() {
        let e = check_addr("--addr", ":8080").unwrap_err().0;
        assert!(
            e.contains("HOST:PORT") && e.contains("127.0.0.1:8080"),
            "{e}"
        );
        assert!(check_addr("--addr", "127.0.0.1:8080").is_ok());
    }

    #[test]
    fn a_port_in_use_becomes_a_usage_error_with_a_hint() {
        let taken = io::Error::from(io::ErrorKind::AddrInUse);
        let e = start_failure(
            anyhow::Error::new(taken).context("binding 127.0.0.1:1"),
            "a",
        );
        assert!(e.is::<Usage>(), "{e:#}");
        assert!(format!("{e:#}").contains("port 0"), "{e:#}");
        let other = anyhow::anyhow!("something else");
        assert!(!start_failure(other, "a").is::<Usage>());
    }
}
