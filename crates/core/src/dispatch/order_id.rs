//! Deterministic order ids: what identifies an incident (its kind, the
//! detection that opened it: device, cell, category, the event time its
//! condition began, its re-notification number) names its order. The same
//! events through the same rules give the same id in any process, after a
//! restart and in a replay, so a street never receives one fire under two
//! ids. Ids stay opaque strings to clients (docs/PROTOCOL.md).

use crate::engine::Warning;

/// The order id of the incident behind `w`: `TG` then the opening
/// condition's start (Unix ms, hex), `-`, a 64-bit FNV-1a digest of the
/// rest (hex, 16 digits). Every revision of one incident has the same id.
pub(crate) fn order_id(w: &Warning) -> String {
    let opener = w
        .detections
        .first()
        .expect("a warning holds the detection that opened its incident");
    let opened_ms = opener.first_seen_ms.min(opener.time_ms);
    let mut h = Fnv1a::new();
    h.write(w.kind.as_bytes());
    h.write(&[0xff]);
    h.write(&opener.device.to_le_bytes());
    h.write(&opener.cell.to_le_bytes());
    h.write(&opener.category.code().to_le_bytes());
    h.write(&opened_ms.to_le_bytes());
    h.write(&opener.repeat.to_le_bytes());
    format!("TG{:x}-{:016x}", opened_ms.max(0), h.finish())
}

/// The id of the escalation (督办) of order `id` to the district.
pub(crate) fn escalation_id(id: &str) -> String {
    format!("{id}-E")
}

/// 64-bit FNV-1a: tiny, stable across processes, versions and platforms
/// (unlike the std hasher's random keys), which is what an id needs.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_published_vectors() {
        let mut h = Fnv1a::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
        let mut h = Fnv1a::new();
        h.write(b"foobar");
        assert_eq!(h.finish(), 0x8594_4171_f739_67e8);
    }
}
