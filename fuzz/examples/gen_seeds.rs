//! Writes the starting corpus into fuzz/seeds/<target>/ with tongguan's own
//! encoders, and checks each seed is accepted by the code under test.
//!
//!     cargo +nightly run --manifest-path fuzz/Cargo.toml --example gen_seeds
//!
//! Plain build (no sanitizer, no libFuzzer): it never calls `fuzz_target!`.

use rkyv::util::AlignedVec;
use std::path::{Path, PathBuf};
use tongguan::wire::batch::{access_batch, TimeBounds};
use tongguan::wire::frame::{encode_frame, FrameType};
use tongguan::wire::{BatchAck, BatchEncoder, RejectReason, WireEvent};

fn seeds(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let path = seeds(target).join(name);
    std::fs::write(&path, bytes).unwrap();
    println!("{} ({} bytes)", path.display(), bytes.len());
}

fn event(i: u64, category: u16, source: u8, value: f64, camera: Option<&[u8; 20]>) -> WireEvent {
    WireEvent {
        device_id: 0x0102_0304_0506_0708 + i,
        seq: 42 + i,
        time_ms: 1_780_000_000_000 + i as i64 * 1000,
        value,
        lat: 31.25 + i as f64 * 0.001,
        lon: 121.40 + i as f64 * 0.001,
        category,
        source,
        flags: 0,
        camera: camera.copied().unwrap_or([0; 20]),
    }
}

fn check_batch(bytes: &[u8], events: usize) {
    let mut buf = AlignedVec::<16>::new();
    buf.extend_from_slice(bytes);
    let batch = access_batch(&buf, 8192).expect("seed batch is accepted");
    assert_eq!(batch.events.len(), events);
    let bounds = TimeBounds {
        min_ms: i64::MIN,
        max_ms: i64::MAX,
    };
    for e in batch.events.iter() {
        e.validate(bounds).expect("seed event is valid");
    }
}

fn main() {
    // Batches: empty, one video fire with a camera, several categories.
    let cam = b"31010700001320000001";
    let mut enc = BatchEncoder::new();
    let empty = enc.encode(1, &[]).to_vec();
    check_batch(&empty, 0);
    let one = enc.encode(7, &[event(0, 2, 2, 0.93, Some(cam))]).to_vec();
    check_batch(&one, 1);
    let mixed: Vec<WireEvent> = (0..6u64)
        .map(|i| event(i, 1 + i as u16, 1 + (i % 4) as u8, 1.5 * i as f64, None))
        .collect();
    let many = enc.encode(9, &mixed).to_vec();
    check_batch(&many, mixed.len());
    for target in ["batch_validation"] {
        write(target, "empty-batch.bin", &empty);
        write(target, "one-fire-event.bin", &one);
        write(target, "six-events.bin", &many);
    }

    // Frame streams.
    let hello = br#"{"role":"device","token":"dev-device-token","client":"seedgen/0.1"}"#;
    let sub_hello = br#"{"role":"subscriber","token":"dev-district-token"}"#;
    let subscribe = br#"{"street":"310107005000","from_seq":0}"#;
    let ack = br#"{"order_id":"o-1","outcome":"false_alarm","note":"13800000000"}"#;
    let welcome = br#"{"hub":"tongguan/0.1.0","max_frame_bytes":1048576,"max_batch_events":8192,"streets":["310107005000"]}"#;
    let batch_ack = BatchAck {
        batch_seq: 7,
        accepted: 1,
        rejected: 1,
        first_reject: Some(RejectReason::BadPosition),
    }
    .encode();

    write("frame_decoder", "hello.bin", &encode_frame(FrameType::Hello, hello));
    let mut device = encode_frame(FrameType::Hello, hello);
    device.extend(encode_frame(FrameType::Batch, &one));
    device.extend(encode_frame(FrameType::Heartbeat, &[]));
    device.extend(encode_frame(FrameType::Heartbeat, &1u64.to_le_bytes()));
    device.extend(encode_frame(FrameType::Batch, &many));
    write("frame_decoder", "device-session.bin", &device);
    let mut sub = encode_frame(FrameType::Hello, sub_hello);
    sub.extend(encode_frame(FrameType::Subscribe, subscribe));
    sub.extend(encode_frame(FrameType::OrderAck, ack));
    write("frame_decoder", "subscriber-session.bin", &sub);
    let mut hub = encode_frame(FrameType::Welcome, welcome);
    hub.extend(encode_frame(FrameType::BatchAck, &batch_ack));
    hub.extend(encode_frame(FrameType::Subscribed, br#"{"street":"district","from_seq":3}"#));
    write("frame_decoder", "hub-replies.bin", &hub);

    // Config and rules: the embedded files and a small override.
    write(
        "config_parser",
        "default_config.toml",
        tongguan::config::DEFAULT_CONFIG.as_bytes(),
    );
    write(
        "config_parser",
        "default_rules.toml",
        tongguan::engine::rules::DEFAULT_RULES.as_bytes(),
    );
    let small = "[engine]\nrepeat_interval = \"10s\"\n\n[[auth.device]]\nname = \"gw\"\ntoken = \"0123456789abcdef\"\n";
    tongguan::config::Config::from_layers(Some(("seed".into(), small))).expect("seed config");
    write("config_parser", "override.toml", small.as_bytes());
    let rule = "[emergency]\ndeadline_scale = 0.5\n\n[[rule]]\nname = \"w\"\ncategory = \"water_level\"\nkind = \"above\"\nlimit = 15.0\nclear = 10.0\nfor = \"30s\"\nseverity = \"minor\"\ndeadline = \"1h\"\nplan = \"x\"\n[rule.emergency]\nlimit = 10.0\nclear = 5.0\n";
    tongguan::engine::rules::Profiles::from_toml(rule).expect("seed rules");
    write("config_parser", "one-rule.toml", rule.as_bytes());
}
