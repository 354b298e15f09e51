//! Hostile and broken clients, and faults: each gets a clear answer, is
//! counted, and never stops a well-behaved device's events from becoming
//! orders, during and after.

mod common;

use common::*;
use std::time::Duration;
use tongguan::client::{ClientOptions, DeviceClient};
use tongguan::tls::{client_config_custom, Trust, STREAM_WINDOW};
use tongguan::wire::batch::RejectReason;
use tongguan::wire::frame::{encode_header, FrameType};
use tongguan::wire::ErrorCode;

const HOUR: i64 = 3_600_000;

/// A good device's alarm becomes an order for the district subscriber
/// (which acknowledges it, so the next check starts clean).
async fn good_device_gets_through(hub: &TestHub, device_id: u64) {
    let mut district = subscriber(hub, DISTRICT_TOKEN, "district").await;
    let mut good = device(hub).await;
    let t = now_ms() - HOUR + (device_id % 100) as i64 * 120_000;
    good.send_and_wait(&[smoke_alarm(device_id, t, point_in(CAOYANG))])
        .await
        .unwrap();
    loop {
        let order = expect_order(&mut district, 10).await;
        district
            .ack(&order.id, tongguan::wire::control::Outcome::Resolved, "")
            .await
            .unwrap();
        if order.events.iter().any(|e| e.device == device_id) {
            return;
        }
    }
}

/// A raw QUIC connection offering `alpn`.
async fn raw(
    hub: &TestHub,
    alpn: &[u8],
) -> Result<(quinn::Endpoint, quinn::Connection), quinn::ConnectionError> {
    let cfg =
        client_config_custom(&Trust::AnyOnLoopback, hub.quic_addr, STREAM_WINDOW, alpn).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(cfg);
    let conn = endpoint
        .connect(hub.quic_addr, "localhost")
        .unwrap()
        .await?;
    Ok((endpoint, conn))
}

fn code_of(e: &quinn::ConnectionError) -> Option<ErrorCode> {
    match e {
        quinn::ConnectionError::ApplicationClosed(c) => {
            ErrorCode::from_code(c.error_code.into_inner())
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_alpn_is_refused_in_the_handshake() {
    let hub = start_hub("").await;
    let err = raw(&hub, b"http/1.1").await.expect_err("handshake refused");
    assert!(
        err.to_string().to_lowercase().contains("alpn") || err.to_string().contains("120"),
        "{err}"
    );
    good_device_gets_through(&hub, 601).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_opens_a_stream_and_says_nothing_is_closed_after_the_hello_timeout() {
    let hub = start_hub("[limits]\nhello_timeout = \"500ms\"\n").await;
    let (_endpoint, conn) = raw(&hub, tongguan::wire::ALPN).await.unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(&[]).await.unwrap();
    // Meanwhile a good device is served.
    good_device_gets_through(&hub, 602).await;
    let err = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .unwrap();
    assert_eq!(code_of(&err), Some(ErrorCode::HelloTimeout), "{err}");
    // And a connection that opens no stream at all.
    let (_endpoint2, conn2) = raw(&hub, tongguan::wire::ALPN).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(5), conn2.closed())
        .await
        .unwrap();
    assert_eq!(code_of(&err), Some(ErrorCode::HelloTimeout), "{err}");
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(
        metric(&body, "tongguan_frames_rejected_total", "hello_timeout"),
        2.0
    );
    good_device_gets_through(&hub, 603).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_frame_is_a_protocol_violation() {
    let hub = start_hub("").await;
    let mut bad = device(&hub).await;
    let mut bytes = encode_header(FrameType::Batch, 1000).to_vec();
    bytes.extend_from_slice(&[0u8; 10]);
    bad.send_raw(&bytes).await.unwrap();
    bad.finish().unwrap();
    let err = tokio::time::timeout(Duration::from_secs(5), bad.closed())
        .await
        .unwrap();
    assert_eq!(
        err.close_code(),
        Some(ErrorCode::ProtocolViolation),
        "{err}"
    );
    assert!(err.to_string().contains("ended inside a frame"), "{err}");
    good_device_gets_through(&hub, 604).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

const TWO_TOKENS: &str = "[auth]\ndevelopment = true\n\
    [[auth.device]]\nname = \"gw-a\"\ntoken = \"dev-device-token\"\n\
    [[auth.device]]\nname = \"gw-b\"\ntoken = \"other-device-token\"\n\
    [[auth.subscriber]]\nname = \"desk\"\nstreet = \"district\"\ntoken = \"dev-district-token\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_event_rate_gets_rate_limited_rejects_and_starves_no_one() {
    let hub = start_hub(&format!(
        "{TWO_TOKENS}[limits]\nmax_events_per_second_per_token = 1000\n"
    ))
    .await;
    let mut greedy = device(&hub).await;
    let here = point_in(CHANGSHOU);
    let t = now_ms() - HOUR;
    let flood: Vec<_> = (0..3000u64)
        .map(|i| {
            event(
                i,
                1,
                t,
                tongguan::model::Category::Gas,
                tongguan::model::Source::Sensor,
                1.0,
                here,
            )
        })
        .collect();
    let ack = greedy.send_and_wait(&flood).await.unwrap();
    assert!(ack.accepted <= 1001, "{ack:?}");
    assert_eq!(ack.accepted + ack.rejected, 3000);
    assert_eq!(ack.first_reject, Some(RejectReason::RateLimited));
    // Another token has its own budget.
    let mut other = DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, "other-device-token"))
        .await
        .unwrap();
    let ack = other.send_and_wait(&flood[..900]).await.unwrap();
    assert_eq!(ack.accepted, 900);
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    assert!(metric(&body, "tongguan_events_rejected_total", "rate_limited") >= 1999.0);
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_refuse_the_excess_per_token_and_in_all() {
    let hub = start_hub(&format!(
        "{TWO_TOKENS}[limits]\nmax_connections = 4\nmax_connections_per_token = 2\n"
    ))
    .await;
    let a1 = device(&hub).await;
    let a2 = device(&hub).await;
    let err = DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, DEVICE_TOKEN))
        .await
        .err()
        .expect("third refused");
    assert_eq!(
        err.close_code(),
        Some(ErrorCode::TooManyConnections),
        "{err}"
    );
    // The other token is not starved by the first.
    let b1 = DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, "other-device-token"))
        .await
        .unwrap();
    let b2 = DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, "other-device-token"))
        .await
        .unwrap();
    // Four open: the hub is full; the fifth is refused before its HELLO.
    let err = DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, "other-device-token"))
        .await
        .err()
        .expect("hub full");
    assert!(err.to_string().contains("refused"), "{err}");
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(
        metric(
            &body,
            "tongguan_admission_refused_total",
            "token_connections"
        ),
        1.0
    );
    assert_eq!(
        metric(&body, "tongguan_admission_refused_total", "hub_full"),
        1.0
    );
    // Closing one makes room again.
    a1.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let a3 = device(&hub).await;
    drop((a2, a3, b1, b2));
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_tokens_let_their_holder_in_and_no_one_else() {
    let hash = tongguan::auth::TokenHash::make("a-device-secret-of-some-length");
    let hub = start_hub(&format!(
        "[auth]\ndevelopment = true\n[[auth.device]]\nname = \"gw\"\ntoken_hash = \"{hash}\"\n\
         [[auth.subscriber]]\nname = \"desk\"\nstreet = \"district\"\ntoken = \"dev-district-token\"\n"
    ))
    .await;
    // What the config holds is no secret.
    assert!(!hash.contains("a-device-secret-of-some-length"));
    let ok = DeviceClient::connect(&ClientOptions::dev(
        hub.quic_addr,
        "a-device-secret-of-some-length",
    ))
    .await;
    assert!(ok.is_ok());
    for wrong in ["a-device-secret-of-some-lengtH", &hash, "dev-device-token"] {
        let err = DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, wrong))
            .await
            .err()
            .expect("refused");
        assert_eq!(err.close_code(), Some(ErrorCode::AuthFailed));
    }
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_config_without_a_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(
        dir.path(),
        "[auth]\n[[auth.device]]\nname = \"gw\"\ntoken = \"0123456789abcdef\"\n",
    );
    let err = tongguan::hub::Hub::start(config)
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("needs hub.cert and hub.key"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_reconnecting_in_a_loop_leaks_nothing_and_blocks_no_one() {
    let hub = start_hub("").await;
    let looping = {
        let addr = hub.quic_addr;
        tokio::spawn(async move {
            for _ in 0..60 {
                let d = DeviceClient::connect(&ClientOptions::dev(addr, DEVICE_TOKEN))
                    .await
                    .unwrap();
                d.close().await;
            }
        })
    };
    good_device_gets_through(&hub, 605).await;
    looping.await.unwrap();
    let http = hub.admin_addr;
    eventually(
        "connections back to the two test clients or none",
        || async {
            let (_, body) = http_get(http, "/metrics").await;
            metric(&body, "tongguan_connections", "role=\"device\"") <= 1.0
        },
    )
    .await;
    good_device_gets_through(&hub, 606).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

/// A data dir on a 4 MiB tmpfs that a filler file then fills (needs root
/// to mount, as CI has).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_reported_and_orders_are_refused_not_pretended() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(
            std::env::var_os("CI").is_none(),
            "mounting a tmpfs is needed under CI (run as root)"
        );
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(dir.path().to_owned());
    let data = tempfile::tempdir_in(dir.path()).unwrap();
    let hub = start_hub_in(data, "").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let here = point_in(CAOYANG);
    let t0 = now_ms() - 2 * HOUR;
    dev.send_and_wait(&[smoke_alarm(1, t0, here)])
        .await
        .unwrap();
    expect_order(&mut district, 10).await;

    // Fill the disk.
    let filler = dir.path().join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    // Alarms sent while the disk is full: none is acknowledged, since none
    // is durable (the device keeps them and is pushed back).
    for k in 1..40u64 {
        dev.send_batch(&[smoke_alarm(1 + k, t0 + k as i64 * 120_000, here)])
            .await
            .unwrap();
    }
    let http = hub.admin_addr;
    eventually("the hub to say it cannot write", || async {
        http_get(http, "/readyz").await.0 == 503
    })
    .await;
    let (_, body) = http_get(http, "/metrics").await;
    assert!(metric(&body, "tongguan_outbox_errors_total", "") >= 1.0);
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), dev.recv_ack())
            .await
            .is_err(),
        "an alarm was acknowledged that is not durable"
    );
    // What it could not store it did not send: every order that arrives is in the outbox.
    let mut seen = Vec::new();
    while let Ok(Ok(o)) =
        tokio::time::timeout(Duration::from_millis(500), district.next_order()).await
    {
        seen.push(o);
    }
    std::fs::remove_file(&filler).unwrap();
    for o in &seen {
        assert_eq!(
            http_get(http, &format!("/api/orders/{}", o.id)).await.0,
            200,
            "{} was sent but not stored",
            o.id
        );
    }
    // Room again: the hub recovers; every alarm is acknowledged now, and
    // each becomes an order.
    for _ in 1..40u64 {
        let ack = tokio::time::timeout(Duration::from_secs(10), dev.recv_ack())
            .await
            .expect("acknowledged once durable")
            .unwrap();
        assert_eq!(ack.accepted, 1);
    }
    dev.send_and_wait(&[smoke_alarm(500, t0 + 50 * 120_000, here)])
        .await
        .unwrap();
    let mut devices: std::collections::BTreeSet<u64> =
        seen.iter().map(|o| o.events[0].device).collect();
    while !devices.contains(&500) {
        let order = expect_order(&mut district, 10).await;
        devices.insert(order.events[0].device);
    }
    let missing: Vec<u64> = (2..=40).filter(|d| !devices.contains(d)).collect();
    assert!(
        missing.is_empty(),
        "alarms of the full disk never became orders: {missing:?}"
    );
    assert_eq!(http_get(http, "/readyz").await.0, 200);
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mutual_tls_required_a_device_needs_a_certificate_from_the_client_ca() {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let device_cert = |issuer: &Issuer<'_, KeyPair>| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["gateway-7".to_owned()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, issuer).unwrap();
        std::sync::Arc::new(tongguan::tls::Identity {
            chain: vec![cert.der().clone()],
            key: rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            self_signed: false,
            pem: cert.pem(),
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("client-ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    let hub = start_hub_in(
        dir,
        &format!(
            "client_ca = {:?}\nrequire_device_certificate = true\n",
            ca_path.display().to_string()
        ),
    )
    .await;
    // No certificate: refused with an auth error.
    let err = DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, DEVICE_TOKEN))
        .await
        .err()
        .map(|e| e.close_code());
    assert_eq!(err, Some(Some(ErrorCode::AuthFailed)));
    // A certificate from another CA: the handshake fails.
    let stranger_key = KeyPair::generate().unwrap();
    let mut stranger_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    stranger_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let stranger = Issuer::new(stranger_params, stranger_key);
    let opts = ClientOptions {
        identity: Some(device_cert(&stranger)),
        ..ClientOptions::dev(hub.quic_addr, DEVICE_TOKEN)
    };
    assert!(DeviceClient::connect(&opts).await.is_err());
    // The CA's certificate and the token: in, and served.
    let opts = ClientOptions {
        identity: Some(device_cert(&issuer)),
        ..ClientOptions::dev(hub.quic_addr, DEVICE_TOKEN)
    };
    let mut dev = DeviceClient::connect(&opts).await.unwrap();
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    dev.send_and_wait(&[smoke_alarm(700, now_ms() - HOUR, point_in(CAOYANG))])
        .await
        .unwrap();
    assert_eq!(expect_order(&mut district, 10).await.events[0].device, 700);
    hub.shutdown(Duration::from_secs(2)).await;
}
