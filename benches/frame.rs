//! The frame codec's throughput: small frames (headers only, the command traffic) and big
//! bodies (the file traffic), fed in 64 KiB reads as a socket would deliver them.
//!
//! ```sh
//! cargo bench --bench frame
//! ```

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mayfly_proto::frame::{self, Decoder, Header, Item, Limits};

fn wire(frames: usize, body: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let payload = vec![b'x'; body];
    for i in 0..frames {
        let h = Header::new()
            .with("cmd", "put")
            .with("filename", format!("file-{i}.txt"))
            .with("filesize", body);
        frame::write_frame(&mut out, &h, &payload).unwrap();
    }
    out
}

/// Decodes `input` fed in `read`-sized pieces; returns (frames, body bytes).
fn decode(input: &[u8], read: usize) -> (usize, u64) {
    let mut d = Decoder::new(Limits::default(), frame::body_from("filesize"));
    let mut buf = BytesMut::with_capacity(read * 2);
    let (mut frames, mut body) = (0, 0u64);
    for piece in input.chunks(read) {
        buf.extend_from_slice(piece);
        while let Some(item) = d.decode(&mut buf).unwrap() {
            match item {
                Item::Header { .. } => frames += 1,
                Item::Body(b) => body += b.len() as u64,
                Item::End => {}
            }
        }
    }
    (frames, body)
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    let small = wire(10_000, 0);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("decode 10k header-only frames", |b| {
        b.iter(|| assert_eq!(decode(&small, 64 * 1024).0, 10_000))
    });
    let big = wire(4, 16 << 20);
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("decode 4 x 16 MiB bodies", |b| {
        b.iter(|| assert_eq!(decode(&big, 64 * 1024).1, 64 << 20))
    });
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("encode 10k headers", |b| {
        let h = Header::new()
            .with("cmd", "put")
            .with("filename", "file-1234.txt")
            .with("filesize", 1234);
        b.iter(|| {
            let mut out = BytesMut::with_capacity(64 * 10_000);
            for _ in 0..10_000 {
                frame::encode_header(&h, frame::MAX_HEADER, &mut out).unwrap();
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
