//! Build script of the `mayfly` binary: records the git commit it is built from
//! (`MAYFLY_GIT_COMMIT`, `git rev-parse --short=12 HEAD`, `-dirty` with uncommitted changes)
//! for `mayfly --version` and the compare report's metadata. Outside a git checkout (a
//! tarball, `cargo install` from a registry) it sets nothing and the binary says `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    // No rerun-if-changed line: Cargo reruns this whenever a file of the package changes,
    // which is what keeps `-dirty` true.
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]).filter(|c| !c.is_empty()) else {
        return;
    };
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let suffix = if dirty { "-dirty" } else { "" };
    println!("cargo:rustc-env=MAYFLY_GIT_COMMIT={commit}{suffix}");
}
