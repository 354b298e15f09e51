//! The disposal loop's HTTP side on a real hub: steps by token (a street
//! platform naming its officer) answered with what became of them, a
//! photo uploaded then named in feedback, registered devices named on
//! their orders, and a maintenance window that keeps a device's alarms
//! from dispatching and counts them.

mod common;

use common::*;

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n")
}

async fn step(hub: &TestHub, token: &str, id: &str, body: &str) -> (u16, serde_json::Value) {
    let (status, text) = http(
        hub.admin_addr,
        "POST",
        &format!("/api/orders/{id}/steps"),
        body,
        &bearer(token),
    )
    .await;
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_over_http_say_what_became_of_them_and_feedback_carries_a_photo() {
    let hub = start_hub("").await;
    let mut street = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut dev = device(&hub).await;
    dev.send_and_wait(&[smoke_alarm(9_300, now_ms() - 600_000, point_in(CAOYANG))])
        .await
        .unwrap();
    let id = expect_order(&mut street, 10).await.id;
    let token = street_token(CAOYANG);
    let (s, body) = step(&hub, &token, &id, r#"{"step":"accept","by":"张三"}"#).await;
    assert_eq!(
        (s, body["result"].as_str(), body["stage"].as_str()),
        (200, Some("applied"), Some("accepted")),
        "{body}"
    );
    let (s, body) = step(&hub, &token, &id, r#"{"step":"accept","by":"张三"}"#).await;
    assert_eq!(
        (s, body["result"].as_str()),
        (409, Some("wrong_stage")),
        "{body}"
    );
    assert!(
        body["reason"].as_str().unwrap().contains("已签收"),
        "{body}"
    );
    let (s, body) = step(&hub, &token, &id, r#"{"step":"verify"}"#).await;
    assert_eq!(s, 403, "{body}");
    let (s, body) = step(&hub, &token, &id, r#"{"step":"fly"}"#).await;
    assert_eq!(s, 400, "{body}");

    // A photo is uploaded first, then named by its hash.
    let (s, text) = http(
        hub.admin_addr,
        "POST",
        "/api/photos",
        "not really a jpeg",
        &format!("Authorization: Bearer {token}\r\nContent-Type: image/jpeg\r\n"),
    )
    .await;
    assert_eq!(s, 201, "{text}");
    let photo: serde_json::Value = serde_json::from_str(&text).unwrap();
    let unknown = r#"{"step":"feedback","note":"x","photos":[{"sha256":"0000000000000000000000000000000000000000000000000000000000000000","bytes":1,"content_type":"image/jpeg"}]}"#;
    let (s, body) = step(&hub, &token, &id, unknown).await;
    assert_eq!(s, 400, "a photo never uploaded: {body}");
    let feedback = serde_json::json!({"step": "feedback", "note": "现场有烟", "photos": [photo], "by": "李四"});
    let (s, body) = step(&hub, &token, &id, &feedback.to_string()).await;
    assert_eq!(
        (s, body["stage"].as_str()),
        (200, Some("feedback")),
        "{body}"
    );
    let sha = photo["sha256"].as_str().unwrap();
    let (s, bytes) = http_get_as(
        hub.admin_addr,
        &format!("/api/photos/{sha}"),
        DISTRICT_TOKEN,
    )
    .await;
    assert_eq!((s, bytes.as_str()), (200, "not really a jpeg"));
    let path = format!("/api/photos/{sha}");
    let (s, _) = http_get_as(hub.admin_addr, &path, &token).await;
    assert_eq!(s, 200, "the street sees the photos of its own feedback");
    let (s, _) = http_get(hub.admin_addr, &path).await;
    assert_eq!(s, 401, "not without signing in");

    let detail = api(hub.admin_addr, &format!("/api/orders/{id}")).await;
    assert_eq!(detail["stage"], "feedback");
    assert_eq!(detail["feedback"][0]["photos"][0]["sha256"], sha);
    assert_eq!(detail["feedback"][0]["by"], "李四（310107005000）");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_devices_are_named_and_a_maintenance_window_silences_one() {
    let hub = start_hub("").await;
    let csv = "id,kind,name,address,street,owner\n\
        9400,烟感,3号楼烟感,曹杨路 1040 弄 3 号楼,310107005000,曹杨物业\n";
    let (s, text) = http(
        hub.admin_addr,
        "PUT",
        "/api/devices/registry",
        csv,
        "Content-Type: text/csv\r\n",
    )
    .await;
    assert_eq!(s, 200, "{text}");
    let (s, text) = http(
        hub.admin_addr,
        "PUT",
        "/api/devices/registry",
        "id,name\nx,y\n",
        "Content-Type: text/csv\r\n",
    )
    .await;
    assert_eq!(s, 400);
    assert!(text.contains("line 2"), "{text}");

    let until = now_ms() + 3_600_000;
    let window = format!(
        r#"{{"target":{{"kind":"device","device":9401}},"until_ms":{until},"reason":"检修"}}"#
    );
    let (s, text) = http(
        hub.admin_addr,
        "POST",
        "/api/maintenance",
        &window,
        &bearer(DISTRICT_TOKEN),
    )
    .await;
    assert_eq!(s, 201, "{text}");
    let (s, _) = http(
        hub.admin_addr,
        "POST",
        "/api/maintenance",
        &window,
        &bearer(&street_token(CAOYANG)),
    )
    .await;
    assert_eq!(s, 403, "a street does not silence its own devices");

    let mut street = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut dev = device(&hub).await;
    let t = now_ms() - 600_000;
    dev.send_and_wait(&[smoke_alarm(9_401, t, point_in(CAOYANG))])
        .await
        .unwrap();
    dev.send_and_wait(&[smoke_alarm(9_400, t + 300_000, point_in(CAOYANG))])
        .await
        .unwrap();
    let order = expect_order(&mut street, 10).await;
    assert_eq!(
        order.events[0].device, 9_400,
        "the silenced device made no order"
    );
    assert_eq!(order.events[0].device_name.as_deref(), Some("3号楼烟感"));
    assert_eq!(
        order.events[0].address.as_deref(),
        Some("曹杨路 1040 弄 3 号楼")
    );
    expect_no_order(&mut street, 500).await;
    let windows = api(hub.admin_addr, "/api/maintenance").await;
    assert_eq!(windows["windows"][0]["suppressed"], 1, "{windows}");
    assert_eq!(
        windows["windows"][0]["by"],
        "district duty desk (development)"
    );
    let m = http_get(hub.admin_addr, "/metrics").await.1;
    assert_eq!(metric(&m, "tongguan_warnings_suppressed_total", ""), 1.0);
    let devices = api(hub.admin_addr, "/api/devices").await;
    let listed = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == 9_400)
        .expect("the device of the order is listed");
    assert_eq!(listed["registered"]["name"], "3号楼烟感");
    assert_eq!(listed["registered"]["owner"], "曹杨物业");
}
