//! `examples/processes.rs` (gevent's `examples/processes.py`) run as a test: both children
//! finish within the example's 2 s limit and their output is printed.

#[allow(dead_code)] // the example's `main`
#[path = "../examples/processes.rs"]
mod processes;

#[test]
fn processes_prints_both_jobs_output() {
    let lines = processes::report().unwrap();
    let out = lines.join("\n");
    assert_eq!(lines.len(), 2, "{out}");
    let uname =
        String::from_utf8(std::process::Command::new("uname").output().unwrap().stdout).unwrap();
    assert_eq!(lines[0], format!("uname: {uname:?}"));
    // `ls` ran in the package root (cargo runs tests there).
    assert!(
        lines[1].starts_with("ls: \"") && lines[1].contains("Cargo.toml\\n"),
        "{out}"
    );
    assert!(!out.contains("still running"), "{out}");
}
