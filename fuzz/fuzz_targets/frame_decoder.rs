//! Fuzzes `mayfly_proto::frame::Decoder`: arbitrary bytes, fed in arbitrary pieces, must never
//! panic, never hand out more body than the header promised, and after a fatal error must
//! keep refusing.
//!
//! ```sh
//! cargo install cargo-fuzz
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run frame_decoder -- -max_total_time=300
//! ```
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mayfly_proto::frame::{self, Decoder, FrameError, Item, Limits};

fuzz_target!(|data: &[u8]| {
    // First byte picks the piece size, so splits are explored too.
    let Some((&step, input)) = data.split_first() else { return };
    let step = usize::from(step).max(1);
    let limits = Limits::default().max_body(1 << 20);
    let mut d = Decoder::new(limits, frame::body_from("filesize"));
    let mut buf = BytesMut::new();
    let mut promised = 0u64;
    let mut seen = 0u64;
    let mut broken = false;
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match d.decode(&mut buf) {
                Ok(Some(Item::Header { body_len, .. })) => {
                    assert!(!broken, "a header after a fatal error");
                    assert_eq!(promised, seen, "a header inside a body");
                    assert!(body_len <= limits.max_body);
                    promised = body_len;
                    seen = 0;
                }
                Ok(Some(Item::Body(b))) => {
                    assert!(!b.is_empty());
                    seen += b.len() as u64;
                    assert!(seen <= promised, "more body than promised");
                }
                Ok(Some(Item::End)) => {
                    assert_eq!(seen, promised, "end before the body was complete");
                    promised = 0;
                    seen = 0;
                }
                Ok(None) => break,
                Err(e) => {
                    if broken {
                        assert_eq!(e, FrameError::Desynced);
                    }
                    if e.is_fatal() {
                        broken = true;
                        break;
                    }
                }
            }
        }
        if broken {
            return;
        }
    }
});
