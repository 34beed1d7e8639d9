//! What machine this is, for the record a measurement carries: the kernel's name and
//! release, and the CPU model, read from `/proc`. A leaf: `mayfly compare` writes these into
//! its report's metadata.
//!
//! ```
//! let k = mayfly::process::host::kernel().unwrap();
//! assert!(k.starts_with("Linux "));
//! ```

use std::fs;

/// The kernel's name and release, `Linux 6.1.0-18-amd64` (from `/proc/sys/kernel`); `None`
/// if `/proc` cannot be read.
pub fn kernel() -> Option<String> {
    let read = |f: &str| {
        fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    Some(format!("{} {}", read("ostype")?, read("osrelease")?))
}

/// The CPU model as `/proc/cpuinfo` names it (`model name`, or `Model`/`Hardware` on Arm);
/// `None` when it names none.
///
/// ```
/// use mayfly::process::host::cpu_model_in;
/// let info = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n";
/// assert_eq!(cpu_model_in(info).as_deref(), Some("AMD EPYC 7B13"));
/// assert_eq!(cpu_model_in("processor\t: 0\n"), None);
/// ```
pub fn cpu_model() -> Option<String> {
    cpu_model_in(&fs::read_to_string("/proc/cpuinfo").ok()?)
}

/// [`cpu_model`] from the text of a `/proc/cpuinfo`.
pub fn cpu_model_in(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware"].iter().find_map(|key| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_string())
        })
    })
}
