//! What this binary is and how it was invoked, for `mayfly --version` and the compare
//! report's metadata: the version, the git commit recorded by `build.rs` (`None` when built
//! outside a git checkout), and the command line as typed.

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from (`-dirty` with uncommitted changes); `None` when
/// it was built outside a git checkout.
pub const COMMIT: Option<&str> = option_env!("MAYFLY_GIT_COMMIT");

/// `0.1.0 (commit 5760a15c1d2e)`, or `0.1.0 (commit unknown)`: what `--version` prints.
pub fn long() -> String {
    format!("{VERSION} (commit {})", COMMIT.unwrap_or("unknown"))
}

/// This process's command line, its words quoted for a POSIX shell where needed.
pub fn command_line() -> String {
    quote_words(std::env::args())
}

/// Words joined with spaces, each quoted (`'…'`) unless it is made only of characters a
/// shell leaves alone.
fn quote_words(words: impl IntoIterator<Item = String>) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./,:=@%+×".contains(c);
    words
        .into_iter()
        .map(|w| {
            if !w.is_empty() && w.chars().all(plain) {
                w
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_where_a_shell_needs_it() {
        let w = |v: &[&str]| quote_words(v.iter().map(|s| s.to_string()));
        assert_eq!(
            w(&["mayfly", "compare", "--builds", "coroutine×2,threads"]),
            "mayfly compare --builds coroutine×2,threads"
        );
        assert_eq!(w(&["a b", "", "it's"]), r"'a b' '' 'it'\''s'");
    }
}
