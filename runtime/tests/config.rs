//! The stack size comes from `MAYFLY_STACK_SIZE` when set before first use. (Its own test
//! binary: the runtime is configured once per process.)

#[test]
fn stack_size_from_the_environment_and_a_late_config_is_refused() {
    std::env::set_var(mayfly::hub::STACK_SIZE_ENV, "262144");
    assert_eq!(mayfly::Config::current().stack_size, 262144);
    // 200 KiB on the stack fits in 256 KiB, not in the 64 KiB default.
    let g = mayfly::spawn(|| {
        let big = [7u8; 200 * 1024];
        std::hint::black_box(&big)[12345] as u32
    });
    assert_eq!(g.get(), Ok(7));
    // Configuring differently after start is an error that says what runs.
    let e = mayfly::Config::new().stack_size(8192).start().unwrap_err();
    assert!(e.to_string().contains("already runs"), "{e}");
    // The same configuration again is fine.
    assert!(mayfly::Config::current().start().is_ok());
}
