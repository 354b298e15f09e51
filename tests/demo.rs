//! `tongguan demo` end to end, shortened: the hub, the simulated devices
//! and the district desk run in this process over real QUIC on loopback,
//! and the outbox they leave behind holds the orders the demo reported.

use std::time::Duration;
use tongguan::config::Config;
use tongguan::demo::{run, AckDelay, Bind, Demo, DemoOptions};
use tongguan::dispatch::record::Status;
use tongguan::model::Category;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_makes_orders_from_its_incidents_and_acknowledges_some() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DemoOptions {
        duration: Duration::from_secs(4),
        rate: 400,
        incident_every: Duration::from_millis(700),
        data_dir: dir.path().to_path_buf(),
        live: false,
        listen: Bind::EPHEMERAL,
        admin: Bind::EPHEMERAL,
        // Short, so that some acks land within the 4 s.
        ack_after: "100ms..600ms".parse().unwrap(),
    };
    let mut addresses = None;
    let summary = run(Config::embedded(), opts, |hub| {
        addresses = Some((hub.quic_addr, hub.admin_addr))
    })
    .await
    .unwrap();
    let (quic, http) = addresses.expect("on_start was called");
    assert!(quic.ip().is_loopback() && http.ip().is_loopback());
    assert!(summary.sent > 1000, "{summary:?}");
    assert_eq!(summary.accepted, summary.sent, "every reading accepted");
    assert!(summary.incidents >= 4, "{summary:?}");
    assert!(summary.orders >= 2 && summary.acked >= 1, "{summary:?}");
    assert!(
        (0.1..=0.7).contains(&summary.median_ack_s),
        "acks wait as configured: {summary:?}"
    );

    let store = tongguan::store::Store::open(dir.path()).unwrap();
    let orders = store.all_orders().unwrap();
    assert!(orders.len() >= 2, "{orders:#?}");
    assert!(
        orders.iter().any(|r| r.order.multi_source),
        "a fire seen by a smoke sensor and a camera"
    );
    assert!(
        orders.iter().any(|r| r.order.category == Category::Gas),
        "a gas leak held past its hold"
    );
    let acked = orders.iter().filter(|r| r.status == Status::Acked).count() as u64;
    assert_eq!(acked, summary.acked, "the desk's acks are in the outbox");
}

#[test]
fn ack_delays_parse_and_scale_with_the_demo() {
    let d: AckDelay = "20s..3m".parse().unwrap();
    assert_eq!(
        (d.min, d.max),
        (Duration::from_secs(20), Duration::from_secs(180))
    );
    let fixed: AckDelay = "30s".parse().unwrap();
    assert_eq!(
        (fixed.min, fixed.max),
        (Duration::from_secs(30), Duration::from_secs(30))
    );
    assert!("3m..20s".parse::<AckDelay>().is_err());
    assert!("soon..later".parse::<AckDelay>().is_err());
    let minute = AckDelay::scaled_to(Duration::from_secs(60));
    assert_eq!(minute.to_string(), "10s..1m 30s");
    assert_eq!(AckDelay::scaled_to(Duration::ZERO), minute);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preferred_port_that_is_taken_moves_and_a_fixed_one_fails() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = |admin| DemoOptions {
        duration: Duration::from_secs(1),
        rate: 100,
        incident_every: Duration::from_secs(1),
        data_dir: dir.path().to_path_buf(),
        live: false,
        listen: Bind::EPHEMERAL,
        admin,
        ack_after: "1s".parse().unwrap(),
    };
    let demo = Demo::start(Config::embedded(), opts(Bind::Prefer(addr)))
        .await
        .unwrap();
    assert_ne!(demo.hub().admin_addr, addr);
    assert!(demo.hub().admin_addr.ip().is_loopback());
    assert_eq!(demo.notes().len(), 1, "{:?}", demo.notes());
    assert!(
        demo.notes()[0].contains(&addr.to_string()),
        "{:?}",
        demo.notes()
    );
    demo.shutdown().await;

    let Err(e) = Demo::start(Config::embedded(), opts(Bind::Exactly(addr))).await else {
        panic!("{addr} is taken");
    };
    let e = format!("{e:#}");
    assert!(e.contains(&addr.to_string()) && e.contains("in use"), "{e}");
}
