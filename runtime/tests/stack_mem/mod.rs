//! What a greenlet's stack has resident: the mapping that holds an address on it, and how
//! many of that mapping's pages are in memory (`mincore`). Shared by the stack-page tests.

/// The page size the stacks are mapped in.
pub const PAGE: usize = 4096;

/// The mapping of /proc/self/maps that contains `addr`: (start, end).
pub fn mapping_of(addr: usize) -> (usize, usize) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    for line in maps.lines() {
        let range = line.split_whitespace().next().unwrap();
        let (a, b) = range.split_once('-').unwrap();
        let (a, b) = (
            usize::from_str_radix(a, 16).unwrap(),
            usize::from_str_radix(b, 16).unwrap(),
        );
        if (a..b).contains(&addr) {
            return (a, b);
        }
    }
    panic!("no mapping holds {addr:#x}");
}

/// Resident pages of the mapping `start..end`.
pub fn resident_pages(start: usize, end: usize) -> usize {
    let mut vec = vec![0u8; (end - start) / PAGE];
    // SAFETY: `start` is page-aligned (a mapping's start), the range is one whole mapping of
    // this process, and `vec` has one byte per page of it, which is all mincore writes.
    let r = unsafe { libc::mincore(start as *mut libc::c_void, end - start, vec.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore: {}", std::io::Error::last_os_error());
    vec.iter().filter(|&&b| b & 1 == 1).count()
}

/// Resident pages of the greenlet stack that holds `addr` (asserting it is one: a mapping of
/// at least 16 pages, where the small default stacks start).
pub fn stack_pages_at(addr: usize) -> usize {
    let (start, end) = mapping_of(addr);
    assert!(
        end - start >= 16 * PAGE,
        "not a greenlet stack: {start:#x}-{end:#x}"
    );
    resident_pages(start, end)
}
