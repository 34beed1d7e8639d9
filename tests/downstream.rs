//! A crate outside this workspace that depends on mayfly: without the two `[patch.crates-io]`
//! lines it must not build (stock may's wake-up race would spin its worker forever, silently),
//! and the error must name the lines; with them it builds. Needs crates.io (stock may and
//! generator are fetched for the first case), as `cargo` itself does.

use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str, patched: bool) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let mut manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nmayfly = {{ path = {:?} }}\n\n[workspace]\n",
        root.join("runtime")
    );
    if patched {
        manifest.push_str(&format!(
            "\n[patch.crates-io]\nmay = {{ path = {:?} }}\ngenerator = {{ path = {:?} }}\n",
            root.join("vendor/may"),
            root.join("vendor/generator")
        ));
    }
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "fn main() { mayfly::run(|| ()); }\n",
    )
    .unwrap();
    dir
}

fn cargo_check(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO"))
        .arg("check")
        .arg("--quiet")
        .current_dir(dir)
        // Its own target dir, inside ours: kept between runs, so only the first is slow.
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap()
}

#[test]
fn a_crate_without_the_patch_lines_is_refused_with_them_named() {
    let out = cargo_check(&scratch("mayfly-unpatched", false));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "built against stock may: {err}");
    assert!(
        err.contains("mayfly needs its patched may and generator"),
        "{err}"
    );
    assert!(err.contains("[patch.crates-io]"), "{err}");
    assert!(
        err.contains("may = { path = \"PATH/TO/mayfly/vendor/may\" }"),
        "{err}"
    );
    assert!(
        err.contains("generator = { path = \"PATH/TO/mayfly/vendor/generator\" }"),
        "{err}"
    );
}

#[test]
fn a_crate_with_the_patch_lines_builds() {
    let out = cargo_check(&scratch("mayfly-patched", true));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
