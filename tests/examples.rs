//! The examples in `examples/` that check their own results, run as tests: each is compiled
//! into this test as a module and its `main` called (it panics when what it shows does not
//! hold), so `cargo test` runs them without `cargo run`.

#[path = "../examples/geventsendfile.rs"]
mod geventsendfile;

#[test]
fn geventsendfile_sends_the_file_to_every_client_and_the_slow_one_holds_up_nobody() {
    geventsendfile::main();
}

#[path = "../examples/portforwarder.rs"]
mod portforwarder;

#[test]
fn portforwarder_carries_three_clients_to_the_echo_server_and_back() {
    portforwarder::main();
}

#[path = "../examples/concurrent_download.rs"]
mod concurrent_download;

#[test]
fn concurrent_download_fetches_three_urls_at_once_from_a_local_server() {
    concurrent_download::main();
}

#[path = "../examples/threadpool.rs"]
mod threadpool;

#[test]
fn threadpool_runs_four_blocking_jobs_on_three_threads_in_two_rounds() {
    threadpool::main();
}

#[path = "../examples/unixsocket.rs"]
mod unixsocket;

#[test]
fn unixsocket_clients_get_the_servers_answer_over_a_unix_socket() {
    unixsocket::main();
}

#[path = "../examples/dns_mass_resolve.rs"]
mod dns_mass_resolve;

#[test]
fn dns_mass_resolve_resolves_every_local_name_in_a_pool_under_timeouts() {
    dns_mass_resolve::main();
}
