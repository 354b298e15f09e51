//! Maintenance windows and the device registry in the dispatcher: a
//! warning from inside an open window is counted against it, not
//! dispatched; once the window is over, the device's alarms are orders
//! again; registered devices are named on their orders.

use super::*;
use crate::dispatch::maintenance::{Target, Window};

fn window(device: u64, from_ms: i64, until_ms: i64) -> Window {
    Window {
        id: "M1".into(),
        target: Target::Device { device },
        from_ms,
        until_ms,
        reason: "检修".into(),
        by: "王五（district）".into(),
        suppressed: 0,
    }
}

#[test]
fn a_device_under_maintenance_makes_no_order_and_its_warnings_are_counted() {
    let mut desk = Desk::new();
    desk.d
        .set_maintenance(vec![window(7, T0 - 1_000, T0 + 60_000)]);
    let w = smoke(&desk, CAOYANG, 7, T0 - 60_000);
    desk.d.handle_warning(w, vec![None]);
    let out = desk.step(T0);
    assert!(published(&out).is_empty(), "{out:?}");
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Suppressed { window } if window == "M1")));
    assert_eq!(desk.d.maintenance()[0].suppressed, 1);
    // Another device in the same place is not silenced.
    let other = Warning {
        incident: 2,
        ..smoke(&desk, CAOYANG, 8, T0 - 50_000)
    };
    desk.d.handle_warning(other, vec![None]);
    assert_eq!(published(&desk.step(T0 + 1_000)).len(), 2);
}

#[test]
fn a_window_over_lets_the_device_dispatch_again_and_goes_by_itself() {
    let mut desk = Desk::new();
    desk.d
        .set_maintenance(vec![window(7, T0 - 1_000, T0 + 60_000)]);
    let w = smoke(&desk, CAOYANG, 7, T0);
    desk.d.handle_warning(w, vec![None]);
    assert_eq!(published(&desk.step(T0 + 60_000)).len(), 2);
    assert!(desk.d.maintenance().is_empty(), "expired");
}

#[test]
fn orders_name_registered_devices_and_their_address() {
    use crate::dispatch::registry::{DeviceInfo, Registry};
    let mut desk = Desk::new();
    desk.d.set_registry(Arc::new(Registry::new([DeviceInfo {
        id: 7,
        kind: "烟感".into(),
        name: "3号楼烟感".into(),
        address: "曹杨路 1040 弄 3 号楼".into(),
        street: CAOYANG.into(),
        owner: "物业".into(),
    }])));
    let id = dispatched(&mut desk);
    let e = &desk.record(&id).order.events[0];
    assert_eq!(e.device_name.as_deref(), Some("3号楼烟感"));
    assert_eq!(e.address.as_deref(), Some("曹杨路 1040 弄 3 号楼"));
}
