//! A named officer in the console: 李明 of Caoyang signs in with his
//! account and password (the session cookie, not a token); the header and
//! the watermark name him; he accepts an order from the keyboard and its
//! history names him; after signing out, a reload shows the sign-in form
//! (the session ended at the hub, not only in the page).

use super::*;
use std::io::Write;

/// Adds an account to the people file with `tongguan users add`.
pub(crate) fn add_user(
    file: &std::path::Path,
    name: &str,
    display: &str,
    role: &str,
    scope: &str,
    password: &str,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tongguan"))
        .args(["users", "add", "--name", name, "--display-name", display])
        .args(["--role", role, "--scope", scope])
        .arg("--file")
        .arg(file)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_officer_signs_in_is_in_the_watermark_and_accepts_by_keyboard() {
    let dir = tempfile::tempdir().unwrap();
    let people = dir.path().join("people.toml");
    add_user(
        &people,
        "li.ming",
        "李明",
        "street_officer",
        CAOYANG,
        "street-password-1",
    );
    let config = format!(
        "[people]\nusers = {:?}\n[auth]\ndevelopment = true\n\
         [[auth.device]]\nname = \"d\"\ntoken = {DEVICE_TOKEN:?}\n",
        people.display().to_string()
    );
    let hub = start_hub_in(dir, &config).await;
    let base = format!("http://{}", hub.admin_addr);
    let browser = browser().await;
    let c = &browser.client;

    c.goto(&format!("{base}/console")).await.unwrap();
    let name = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#person-name"))
        .await
        .unwrap();
    name.send_keys("li.ming").await.unwrap();
    let password = c.find(Locator::Css("#person-password")).await.unwrap();
    password.send_keys("street-password-1").await.unwrap();
    click(c, "#person-button").await;
    for ready in ["#streets path", "#live.live-on"] {
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(ready))
            .await
            .unwrap_or_else(|e| panic!("{ready}: {e}"));
    }
    assert!(text_of(c, "#who").await.contains("李明"));
    let mark = watermark(c).await;
    assert!(
        mark.contains("李明") && mark.contains("曹杨新村街道"),
        "{mark}"
    );

    send_fire(&hub, CAOYANG, 5100).await;
    let id = order_id_of(c, "#order-list li[data-order-id]").await;
    click(c, &format!("#order-list li[data-order-id='{id}']")).await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#accept-button"))
        .await
        .expect("the accept button");
    c.active_element()
        .await
        .unwrap()
        .send_keys("a")
        .await
        .unwrap();
    until(c, "accepted", "const s = document.getElementById('detail-stage'); return !!s && s.textContent === '已签收'").await;
    let accepted_by = text_of(c, "#detail-accepted-by").await;
    assert!(accepted_by.contains("李明"), "{accepted_by}");
    let history = text_of(c, "#history").await;
    assert!(
        history.contains("签收") && history.contains("李明"),
        "{history}"
    );
    screenshot(c, "person-accepted.png").await;

    sign_out(c).await;
    c.refresh().await.unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#person-form"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        js(c, "return document.getElementById('app').hidden").await,
        true,
        "signed out for good"
    );
    c.clone().close().await.unwrap();
    hub.shutdown(Duration::from_secs(2)).await;
}
