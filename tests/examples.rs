//! The examples in `examples/` that check their own results, run as tests: each is compiled
//! into this test as a module and its `main` called (it panics when what it shows does not
//! hold), so `cargo test` runs them without `cargo run`.

#[path = "../examples/geventsendfile.rs"]
mod geventsendfile;

#[test]
fn geventsendfile_sends_the_file_to_every_client_and_the_slow_one_holds_up_nobody() {
    geventsendfile::main();
}
