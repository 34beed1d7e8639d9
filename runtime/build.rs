//! Tells the crate whether it is built against mayfly's patched may and generator
//! (vendor/may, vendor/generator): their build scripts publish a marker that reaches this one
//! as `DEP_MAY_MAYFLY_PATCHED` and `DEP_GENERATOR_MAYFLY_PATCHED`. Stock copies from
//! crates.io publish none, and `src/lib.rs` then refuses to compile, naming the patch lines.

fn main() {
    for (var, cfg) in [
        ("DEP_MAY_MAYFLY_PATCHED", "mayfly_patched_may"),
        ("DEP_GENERATOR_MAYFLY_PATCHED", "mayfly_patched_generator"),
    ] {
        println!("cargo:rustc-check-cfg=cfg({cfg})");
        println!("cargo:rerun-if-env-changed={var}");
        if std::env::var_os(var).is_some() {
            println!("cargo:rustc-cfg={cfg}");
        }
    }
}
