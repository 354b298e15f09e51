//! Free-text details of low-rate reports (the hotline's caller and what
//! they said, a patrol's note), kept beside the engine by (device, seq)
//! until an order needs them. Personal data is masked on the way in, so
//! nothing here, in the outbox or on the wire is ever in plain form.
//! Bounded: the oldest details are forgotten first (counted).

use crate::dispatch::mask;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Masked details by (device, seq).
pub struct Details {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    by_event: FxHashMap<(u64, u64), String>,
    order: VecDeque<(u64, u64)>,
    evicted: u64,
}

impl Details {
    /// Room for `capacity` details.
    pub fn new(capacity: usize) -> Details {
        Details {
            inner: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    /// Keeps the masked report of an event: "caller (phone): description".
    pub fn insert(
        &self,
        device: u64,
        seq: u64,
        caller: Option<&str>,
        phone: Option<&str>,
        text: Option<&str>,
    ) {
        let mut parts = Vec::new();
        match (caller, phone) {
            (Some(n), Some(p)) => parts.push(format!(
                "来电人 {}（{}）",
                mask::mask_name(n),
                mask::mask_text(p)
            )),
            (Some(n), None) => parts.push(format!("来电人 {}", mask::mask_name(n))),
            (None, Some(p)) => parts.push(format!("来电 {}", mask::mask_text(p))),
            (None, None) => {}
        }
        if let Some(t) = text.filter(|t| !t.trim().is_empty()) {
            parts.push(mask::mask_text(t.trim()));
        }
        if parts.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().expect("details lock");
        if inner
            .by_event
            .insert((device, seq), parts.join("："))
            .is_none()
        {
            inner.order.push_back((device, seq));
        }
        while inner.order.len() > self.capacity {
            let old = inner.order.pop_front().expect("non-empty");
            inner.by_event.remove(&old);
            inner.evicted += 1;
        }
    }

    /// The masked report of an event, if one was given.
    pub fn get(&self, device: u64, seq: u64) -> Option<String> {
        self.inner
            .lock()
            .expect("details lock")
            .by_event
            .get(&(device, seq))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_masked_and_bounded() {
        let d = Details::new(2);
        d.insert(
            1,
            1,
            Some("王小明"),
            Some("13912345678"),
            Some("楼下KTV噪声，电话13912345678"),
        );
        assert_eq!(
            d.get(1, 1).unwrap(),
            "来电人 王**（139****5678）：楼下KTV噪声，电话139****5678"
        );
        d.insert(1, 2, None, None, Some("x"));
        d.insert(1, 3, None, None, Some("y"));
        assert!(d.get(1, 1).is_none(), "oldest forgotten");
        assert_eq!(d.get(1, 3).as_deref(), Some("y"));
        d.insert(1, 4, None, None, None);
        assert!(d.get(1, 4).is_none());
    }
}
