//! Encoding and decoding the two frames on the hot path, per frame: the
//! server's message event (what a broadcast encodes once and every client
//! decodes) and the client's send request (what the server decodes once per
//! message).
//!
//! Run: `cargo bench -p natter-shared --bench codec -- --warm-up-time 1
//! --measurement-time 3`.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use natter_shared::{
    ClientFrame, Event, FrameCodec, Message, Request, ServerFrame, decode_client, decode_server,
    encode,
};
use tokio_util::codec::{Decoder, Encoder};

/// A chat line of exactly 48 characters, the size FACTS.md measures.
const BODY: &str = "did the deploy finish? the dashboard looks green";

/// Frames per buffer in the "stream" cases: one read of a busy socket.
const STREAM: usize = 64;

fn message_event() -> ServerFrame {
    ServerFrame::Event(Event::Message(Message {
        id: 1_234_567,
        ts: 1_763_800_000_000,
        room: "#general".into(),
        from: "carol".into(),
        body: BODY.into(),
        action: false,
        nonce: None,
        ..Default::default()
    }))
}

fn send_request() -> ClientFrame {
    ClientFrame {
        id: 4711,
        req: Request::Send {
            room: "#general".into(),
            body: BODY.into(),
            action: false,
            nonce: None,
            reply_to: None,
            thread: None,
            attention: false,
            files: Vec::new(),
        },
    }
}

fn functions(c: &mut Criterion) {
    let event = message_event();
    let send = send_request();
    let event_frame = encode(&event).unwrap();
    let send_frame = encode(&send).unwrap();
    let event_payload = event_frame.slice(natter_shared::codec::PREFIX_LEN..);
    let send_payload = send_frame.slice(natter_shared::codec::PREFIX_LEN..);
    // Check that the inputs really are what they claim, once, untimed.
    assert_eq!(BODY.chars().count(), 48);
    assert_eq!(decode_server(&event_payload).unwrap(), event);
    assert_eq!(decode_client(&send_payload).unwrap(), send);

    let mut g = c.benchmark_group("encode_fn");
    g.throughput(Throughput::Elements(1));
    g.bench_function("server_message_event", |b| {
        b.iter(|| encode(black_box(&event)).unwrap());
    });
    g.bench_function("client_send", |b| {
        b.iter(|| encode(black_box(&send)).unwrap());
    });
    g.finish();

    let mut g = c.benchmark_group("decode_fn");
    g.throughput(Throughput::Elements(1));
    g.bench_function("server_message_event", |b| {
        b.iter(|| decode_server(black_box(&event_payload)).unwrap());
    });
    g.bench_function("client_send", |b| {
        b.iter(|| decode_client(black_box(&send_payload)).unwrap());
    });
    g.finish();
}

fn framecodec(c: &mut Criterion) {
    let event = message_event();
    let send = send_request();
    let event_frame = encode(&event).unwrap();
    let send_frame = encode(&send).unwrap();

    // Encoder: append one frame to a write buffer that is reused, as a
    // connection's write half does.
    let mut g = c.benchmark_group("framecodec_encode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("server_message_event", |b| {
        let mut codec = FrameCodec::default();
        let mut dst = BytesMut::with_capacity(4096);
        b.iter(|| {
            dst.clear();
            codec.encode(black_box(&event), &mut dst).unwrap();
            black_box(dst.len())
        });
    });
    g.bench_function("client_send", |b| {
        let mut codec = FrameCodec::default();
        let mut dst = BytesMut::with_capacity(4096);
        b.iter(|| {
            dst.clear();
            codec.encode(black_box(&send), &mut dst).unwrap();
            black_box(dst.len())
        });
    });
    g.finish();

    // Decoder: split one frame off a read buffer and decode its payload.
    // The buffer is filled outside the timed part.
    let mut g = c.benchmark_group("framecodec_decode");
    g.throughput(Throughput::Elements(1));
    let one = |frame: &[u8]| BytesMut::from(frame);
    g.bench_function("server_message_event", |b| {
        let mut codec = FrameCodec::default();
        b.iter_batched_ref(
            || one(&event_frame),
            |buf| {
                let payload = codec.decode(buf).unwrap().unwrap();
                decode_server(&payload).unwrap()
            },
            BatchSize::SmallInput,
        );
    });
    g.bench_function("client_send", |b| {
        let mut codec = FrameCodec::default();
        b.iter_batched_ref(
            || one(&send_frame),
            |buf| {
                let payload = codec.decode(buf).unwrap().unwrap();
                decode_client(&payload).unwrap()
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();

    // The same, for a buffer holding many frames (one large socket read):
    // the figure is per frame.
    let mut g = c.benchmark_group("framecodec_decode_stream");
    g.throughput(Throughput::Elements(STREAM as u64));
    let many = |frame: &[u8]| {
        let mut buf = BytesMut::with_capacity(frame.len() * STREAM);
        for _ in 0..STREAM {
            buf.extend_from_slice(frame);
        }
        buf
    };
    g.bench_function("server_message_event", |b| {
        let mut codec = FrameCodec::default();
        b.iter_batched_ref(
            || many(&event_frame),
            |buf| {
                let mut n = 0;
                while let Some(payload) = codec.decode(buf).unwrap() {
                    black_box(decode_server(&payload).unwrap());
                    n += 1;
                }
                assert_eq!(n, STREAM);
            },
            BatchSize::SmallInput,
        );
    });
    g.bench_function("client_send", |b| {
        let mut codec = FrameCodec::default();
        b.iter_batched_ref(
            || many(&send_frame),
            |buf| {
                let mut n = 0;
                while let Some(payload) = codec.decode(buf).unwrap() {
                    black_box(decode_client(&payload).unwrap());
                    n += 1;
                }
                assert_eq!(n, STREAM);
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

/// A 200-message history page, plain and compressed: its bytes (printed)
/// and the CPU to compress and to decode each way.
fn history_page(c: &mut Criterion) {
    let messages = (0..200u64)
        .map(|i| Message {
            id: 10_000 + i,
            ts: 1_796_300_000_000 + i64::try_from(i).unwrap() * 1000,
            room: "#general".into(),
            from: ["alice", "bob", "carol"][usize::try_from(i % 3).unwrap()].into(),
            body: format!("line {i}: {BODY}"),
            ..Default::default()
        })
        .collect();
    let page = ServerFrame::Ok {
        id: 7,
        res: natter_shared::Response::Messages {
            room: "#general".into(),
            messages,
            more: true,
            rev: 99,
        },
    };
    let plain = encode(&page).unwrap();
    let packed = natter_shared::compress_frame(&plain).unwrap();
    eprintln!(
        "history page of 200 messages: {} bytes plain, {} bytes zstd ({:.1}x)",
        plain.len(),
        packed.len(),
        plain.len() as f64 / packed.len() as f64
    );
    let mut g = c.benchmark_group("history_page_200");
    g.bench_function("encode", |b| b.iter(|| encode(black_box(&page)).unwrap()));
    g.bench_function("encode_and_compress", |b| {
        b.iter(|| natter_shared::compress_frame(&encode(black_box(&page)).unwrap()).unwrap());
    });
    let plain_payload = plain.slice(natter_shared::codec::PREFIX_LEN..);
    let packed_payload = packed.slice(natter_shared::codec::PREFIX_LEN..);
    g.bench_function("decode_plain", |b| {
        b.iter(|| decode_server(black_box(&plain_payload)).unwrap());
    });
    g.bench_function("decode_compressed", |b| {
        b.iter(|| decode_server(black_box(&packed_payload)).unwrap());
    });
    g.finish();
}

criterion_group!(benches, functions, framecodec, history_page);
criterion_main!(benches);
