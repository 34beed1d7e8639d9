//! The framed protocol's codec: any split decodes the same, limits and errors are exact, and
//! the course's Python (`struct.pack('i')` + `json.dumps`) is a real peer.

use std::io::{self, Read};
use std::process::Command;

use bytes::BytesMut;
use mayfly_proto::frame::{self, Decoder, FrameError, FrameReader, Header, Item, Limits};
use proptest::prelude::*;
use serde_json::Value;

/// A frame as a test sees it: header and body (its length is in the "size" field).
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    header: Header,
    body: Vec<u8>,
}

fn encode_all(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        frame::write_frame(&mut out, &f.header, &f.body).unwrap();
    }
    out
}

/// Decodes `wire` fed in pieces cut at `cuts`, gathering frames back together.
fn decode_in_pieces(wire: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut dec = Decoder::new(Limits::default(), frame::body_from("size"));
    let mut buf = BytesMut::new();
    let mut out: Vec<Frame> = Vec::new();
    let mut current: Option<Frame> = None;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.push(0);
    points.push(wire.len());
    points.sort_unstable();
    for w in points.windows(2) {
        buf.extend_from_slice(&wire[w[0]..w[1]]);
        while let Some(item) = dec.decode(&mut buf).unwrap() {
            match item {
                Item::Header { header, body_len } => {
                    assert!(current.is_none(), "header inside a frame");
                    assert_eq!(body_len, header.u64("size").unwrap_or(0));
                    current = Some(Frame {
                        header,
                        body: Vec::new(),
                    });
                }
                Item::Body(b) => {
                    assert!(!b.is_empty(), "empty body chunk");
                    current.as_mut().unwrap().body.extend_from_slice(&b);
                }
                Item::End => out.push(current.take().unwrap()),
            }
        }
    }
    assert!(current.is_none(), "unfinished frame at the end");
    assert!(buf.is_empty());
    out
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    (
        proptest::collection::vec(any::<u8>(), 0..300),
        "[a-zA-Z0-9 ._\\-\u{4e00}-\u{4e10}]{0,20}",
        proptest::option::of(any::<i64>()),
    )
        .prop_map(|(body, name, extra)| {
            let mut header = Header::new().with("filename", name);
            if let Some(x) = extra {
                header.set("extra", x);
            }
            if !body.is_empty() || extra.is_some_and(|x| x % 2 == 0) {
                header.set("size", body.len() as u64);
            }
            Frame { header, body }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_split_decodes_to_the_same_frames(
        frames in proptest::collection::vec(arb_frame(), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let wire = encode_all(&frames);
        prop_assert_eq!(decode_in_pieces(&wire, &cuts), frames);
    }

    #[test]
    fn frame_reader_over_a_trickle_reads_the_same(
        frames in proptest::collection::vec(arb_frame(), 0..8),
        step in 1usize..7,
    ) {
        let wire = encode_all(&frames);
        let mut r = FrameReader::new(Trickle { data: &wire, step }, Limits::default(), frame::body_from("size"));
        let mut got = Vec::new();
        while let Some((header, _)) = r.read_header().unwrap() {
            let body = r.read_body_to_vec().unwrap();
            got.push(Frame { header, body });
        }
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut dec = Decoder::new(Limits::default().max_body(1000), frame::body_from("size"));
        let mut buf = BytesMut::from(&bytes[..]);
        for _ in 0..1000 {
            match dec.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) if e.is_fatal() => break,
                Err(_) => {}
            }
        }
    }
}

/// A reader that hands out at most `step` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn raw_frame(header: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as i32).to_le_bytes().to_vec();
    v.extend_from_slice(header);
    v
}

fn decode_one(wire: &[u8]) -> (Result<Option<Item>, FrameError>, Decoder) {
    let mut d: Decoder = Decoder::new(Limits::default().max_body(100), |h: &Header| {
        Ok(h.opt_u64("size")?.unwrap_or(0))
    });
    let mut buf = BytesMut::from(wire);
    (d.decode(&mut buf), d)
}

#[test]
fn every_error_names_its_problem() {
    let cases: Vec<(Vec<u8>, FrameError, &str)> = vec![
        (
            (-5i32).to_le_bytes().to_vec(),
            FrameError::NegativeLength(-5),
            "header length -5 is negative",
        ),
        (
            (70_000i32).to_le_bytes().to_vec(),
            FrameError::HeaderTooLong {
                len: 70_000,
                limit: 65_536,
            },
            "header length 70000 is over the limit of 65536 bytes",
        ),
        (
            raw_frame(b"{\"a\":\"\xff\"}"),
            FrameError::BadUtf8 { offset: 6 },
            "header is not UTF-8 (invalid byte at offset 6)",
        ),
        (
            raw_frame(b"[1,2]"),
            FrameError::NotAnObject,
            "header is JSON but not an object",
        ),
        (
            raw_frame(br#"{"size":"ten"}"#),
            FrameError::UnknownBodyLength(Box::new(FrameError::WrongType {
                field: "size".into(),
                expected: "a non-negative integer",
            })),
            "cannot tell the body's length: header field \"size\" must be a non-negative integer",
        ),
        (
            raw_frame(br#"{"size":-1}"#),
            FrameError::UnknownBodyLength(Box::new(FrameError::WrongType {
                field: "size".into(),
                expected: "a non-negative integer",
            })),
            "cannot tell the body's length: header field \"size\" must be a non-negative integer",
        ),
        (
            raw_frame(br#"{"size":101}"#),
            FrameError::BodyTooLong {
                len: 101,
                limit: 100,
            },
            "body of 101 bytes is over the limit of 100 bytes",
        ),
    ];
    for (wire, want, text) in cases {
        let (got, _) = decode_one(&wire);
        let err = got.unwrap_err();
        assert_eq!(err, want);
        assert_eq!(err.to_string(), text);
    }
    let (got, _) = decode_one(&raw_frame(b"{\"cmd\": put}"));
    let err = got.unwrap_err();
    assert!(matches!(err, FrameError::BadJson(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("header is not valid JSON: expected value"),
        "{err}"
    );
}

#[test]
fn a_bad_header_is_skipped_and_the_next_frame_still_decodes() {
    let mut wire = raw_frame(b"not json");
    wire.extend(raw_frame(b"\"a string\""));
    wire.extend(raw_frame(br#"{"size":2}"#));
    wire.extend_from_slice(b"ok");
    let mut d = Decoder::new(Limits::default(), frame::body_from("size"));
    let mut buf = BytesMut::from(&wire[..]);
    assert!(matches!(d.decode(&mut buf), Err(FrameError::BadJson(_))));
    assert_eq!(d.decode(&mut buf), Err(FrameError::NotAnObject));
    assert!(matches!(
        d.decode(&mut buf),
        Ok(Some(Item::Header { body_len: 2, .. }))
    ));
    assert_eq!(
        d.decode(&mut buf),
        Ok(Some(Item::Body(bytes::Bytes::from_static(b"ok"))))
    );
    assert_eq!(d.decode(&mut buf), Ok(Some(Item::End)));
    assert_eq!(d.decode(&mut buf), Ok(None));
}

#[test]
fn after_a_fatal_error_the_decoder_stays_out_of_step() {
    let mut wire = (-1i32).to_le_bytes().to_vec();
    wire.extend(raw_frame(b"{}"));
    let (first, mut d) = decode_one(&wire);
    assert!(first.unwrap_err().is_fatal());
    let mut buf = BytesMut::from(&raw_frame(b"{}")[..]);
    assert_eq!(d.decode(&mut buf), Err(FrameError::Desynced));
}

#[test]
fn limits_are_checked_before_anything_is_allocated() {
    // A prefix claiming 64 KiB + 1 is refused from the 4 bytes alone.
    let mut d = Decoder::new(Limits::default(), frame::no_body);
    let mut buf = BytesMut::from(&(65_537i32).to_le_bytes()[..]);
    assert!(matches!(
        d.decode(&mut buf),
        Err(FrameError::HeaderTooLong { .. })
    ));
    // A 4 GiB body claim is refused from the header, before a single body byte.
    let mut d = Decoder::new(
        Limits::default().max_body(1 << 30),
        frame::body_from("filesize"),
    );
    let mut buf = BytesMut::from(&raw_frame(br#"{"filesize":4294967296}"#)[..]);
    assert!(matches!(
        d.decode(&mut buf),
        Err(FrameError::BodyTooLong {
            len: 4294967296,
            ..
        })
    ));
    // A header over the limit is never encoded either.
    let big = Header::new().with("x", "y".repeat(70_000));
    let mut out = BytesMut::new();
    assert!(frame::encode_header(&big, frame::MAX_HEADER, &mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn a_huge_body_streams_through_in_chunks() {
    // 64 MiB claimed; only fixed-size pieces are ever buffered.
    let total: u64 = 64 << 20;
    let mut d = Decoder::new(Limits::default(), frame::body_from("filesize"));
    let mut buf = BytesMut::new();
    let h = Header::new().with("filesize", total);
    frame::encode_header(&h, frame::MAX_HEADER, &mut buf).unwrap();
    assert!(matches!(d.decode(&mut buf), Ok(Some(Item::Header { .. }))));
    let piece = vec![7u8; 1 << 16];
    let mut seen = 0u64;
    let mut ended = false;
    while !ended {
        buf.extend_from_slice(&piece);
        while let Some(item) = d.decode(&mut buf).unwrap() {
            match item {
                Item::Body(b) => seen += b.len() as u64,
                Item::End => {
                    assert_eq!(seen, total, "end before the body is complete");
                    ended = true;
                }
                Item::Header { .. } => unreachable!(),
            }
        }
        assert!(
            buf.capacity() <= 2 << 16,
            "buffer grew to {}",
            buf.capacity()
        );
    }
    assert_eq!(seen, total);
}

#[test]
fn close_in_mid_frame_is_unexpected_eof_and_clean_close_is_none() {
    let mut wire = Vec::new();
    frame::write_frame(&mut wire, &Header::new().with("size", 10), b"0123456789").unwrap();
    for cut in 1..wire.len() {
        let mut r = FrameReader::new(&wire[..cut], Limits::default(), frame::body_from("size"));
        let err = match r.read_header() {
            Err(e) => e,
            Ok(Some(_)) => r.read_body_to_vec().unwrap_err(),
            Ok(None) => panic!("clean close reported at cut {cut}"),
        };
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "cut {cut}: {err}");
    }
    let mut r = FrameReader::new(&wire[..0], Limits::default(), frame::no_body);
    assert!(r.read_header().unwrap().is_none());
}

#[test]
fn frame_reader_errors_carry_the_frame_error() {
    let wire = raw_frame(b"{oops");
    let mut r = FrameReader::new(&wire[..], Limits::default(), frame::no_body);
    let e = r.read_header().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(matches!(
        FrameError::from_io(&e),
        Some(FrameError::BadJson(_))
    ));
}

#[test]
fn an_unread_body_is_skipped_by_the_next_read_header() {
    let mut wire = Vec::new();
    frame::write_frame(
        &mut wire,
        &Header::new().with("size", 100_000),
        &vec![1u8; 100_000],
    )
    .unwrap();
    frame::write_frame(&mut wire, &Header::new().with("n", 2), b"").unwrap();
    let mut r = FrameReader::new(&wire[..], Limits::default(), frame::body_from("size"));
    r.read_header().unwrap().unwrap();
    let mut part = [0u8; 10];
    r.body().read_exact(&mut part).unwrap();
    let (h, _) = r.read_header().unwrap().unwrap();
    assert_eq!(h.u64("n").unwrap(), 2);
}

fn python() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn the_courses_python_frames_decode_and_ours_decode_in_python() {
    let Some(py) = python() else {
        panic!("python3 is needed for the compatibility test (install python3)");
    };
    // The course's client side: struct.pack('i', len) + json.dumps(header) + body.
    let course = r#"
import json, struct, sys
out = sys.stdout.buffer
for name, data in [("a.txt", b"hello"), ("中文.txt", "你好".encode("utf-8")), ("empty", b"")]:
    h = json.dumps({"cmd": "put", "filename": name, "filesize": len(data), "md5": None}).encode("utf-8")
    out.write(struct.pack('i', len(h)))
    out.write(h)
    out.write(data)
"#;
    let o = Command::new(py).args(["-c", course]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r = FrameReader::new(
        &o.stdout[..],
        Limits::default(),
        frame::body_from("filesize"),
    );
    let mut got = Vec::new();
    while let Some((h, _)) = r.read_header().unwrap() {
        assert_eq!(h.str("cmd").unwrap(), "put");
        got.push((
            h.str("filename").unwrap().to_owned(),
            r.read_body_to_vec().unwrap(),
        ));
    }
    assert_eq!(
        got,
        vec![
            ("a.txt".to_owned(), b"hello".to_vec()),
            ("中文.txt".to_owned(), "你好".as_bytes().to_vec()),
            ("empty".to_owned(), Vec::new()),
        ]
    );

    // The course's receiving side parses ours: struct.unpack('i') + json.loads, then
    // reads total_size bytes.
    let mut wire = Vec::new();
    frame::write_frame(
        &mut wire,
        &Header::new().with("total_size", 6).with("note", "ünïcode"),
        b"output",
    )
    .unwrap();
    let reader = r#"
import json, struct, sys
data = sys.stdin.buffer.read()
n = struct.unpack('i', data[:4])[0]
h = json.loads(data[4:4 + n].decode("utf-8"))
body = data[4 + n:4 + n + h["total_size"]]
print(json.dumps([h, body.decode()]))
"#;
    let mut child = Command::new(py)
        .args(["-c", reader])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &wire).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["total_size"], 6);
    assert_eq!(v[0]["note"], "ünïcode");
    assert_eq!(v[1], "output");
}
