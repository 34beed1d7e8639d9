#[rustversion::nightly]
const NIGHTLY: bool = true;

#[rustversion::not(nightly)]
const NIGHTLY: bool = false;

fn main() {
    // mayfly's marker (PATCHED.md): crates that depend on this copy see
    // DEP_<LINKS>_PATCHED in their build scripts; mayfly refuses to build without it.
    println!("cargo:patched=wake-race-fix");
    println!("cargo:rustc-check-cfg=cfg(nightly)");
    if NIGHTLY {
        println!("cargo:rustc-cfg=nightly");
    }
}
