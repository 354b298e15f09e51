//! 哈希链 The audit trail's hash chain, pure (no files): how an entry
//! becomes a line and how a run of lines is checked.
//!
//! A line is `{"hash":"H","entry":E}` where E is the entry's JSON and H the
//! hex SHA-256 of the previous line's H (64 zeros before the first), a
//! newline, and E's bytes exactly as written. Every byte of a line is so
//! covered: an edited byte changes H or E, a removed or reordered line
//! breaks the next one's H and the sequence; only the removal of the last
//! lines needs the head (the last sequence and hash, kept beside the log)
//! to be seen.

use crate::audit::entry::{Entry, Record};
use ring::digest::{Context, SHA256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const PREFIX: &[u8] = b"{\"hash\":\"";
const MIDDLE: &[u8] = b"\",\"entry\":";

/// Where the chain stands: the last sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    /// The last entry's sequence number (0: none yet).
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

fn link(prev: &str, body: &[u8]) -> String {
    let mut ctx = Context::new(&SHA256);
    ctx.update(prev.as_bytes());
    ctx.update(b"\n");
    ctx.update(body);
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Head {
    /// Seals `record` at `time_ms` as the next entry: its line (with the
    /// newline) and the head after it.
    pub fn seal(&self, record: Record, time_ms: i64) -> (Vec<u8>, Head) {
        let entry = Entry {
            seq: self.seq + 1,
            time_ms,
            record,
        };
        let body = serde_json::to_vec(&entry).expect("an entry serializes");
        let hash = link(&self.hash, &body);
        let mut line = Vec::with_capacity(body.len() + 90);
        line.extend_from_slice(PREFIX);
        line.extend_from_slice(hash.as_bytes());
        line.extend_from_slice(MIDDLE);
        line.extend_from_slice(&body);
        line.extend_from_slice(b"}\n");
        (
            line,
            Head {
                seq: entry.seq,
                hash,
            },
        )
    }
}

/// Why the chain is broken, at which line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} (entry {expected_seq}): {why}")]
pub struct Broken {
    /// The line, from 1.
    pub line: u64,
    /// The sequence number that entry should have.
    pub expected_seq: u64,
    /// What is wrong.
    pub why: String,
}

/// One line split into its hash and entry bytes, or why it is not a line.
pub fn split(line: &[u8]) -> Result<(&str, &[u8]), String> {
    let rest = line
        .strip_prefix(PREFIX)
        .ok_or("not an audit line (no hash)")?;
    if rest.len() < 64 + MIDDLE.len() + 1 {
        return Err("line too short".into());
    }
    let (hash, rest) = rest.split_at(64);
    let hash = std::str::from_utf8(hash).map_err(|_| "the hash is not hex")?;
    let body = rest
        .strip_prefix(MIDDLE)
        .and_then(|b| b.strip_suffix(b"}"))
        .ok_or("not an audit line (no entry)")?;
    Ok((hash, body))
}

/// Checks one line after `head`; returns the entry and the new head.
pub fn check(head: &Head, line: &[u8], number: u64) -> Result<(Entry, Head), Broken> {
    let expected_seq = head.seq + 1;
    let broken = |why: String| Broken {
        line: number,
        expected_seq,
        why,
    };
    let (hash, body) = split(line).map_err(broken)?;
    if link(&head.hash, body) != hash {
        return Err(broken("the hash does not match: the entry or the one before it was changed, or one was removed".into()));
    }
    let entry: Entry =
        serde_json::from_slice(body).map_err(|e| broken(format!("the entry is not valid: {e}")))?;
    if entry.seq != expected_seq {
        return Err(broken(format!(
            "sequence {} where {expected_seq} was due",
            entry.seq
        )));
    }
    let head = Head {
        seq: entry.seq,
        hash: hash.to_owned(),
    };
    Ok((entry, head))
}

/// Checks every line (without their newlines) from the start; returns the
/// head after the last.
pub fn verify<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Result<Head, Broken> {
    let mut head = Head::default();
    for (i, line) in lines.into_iter().enumerate() {
        head = check(&head, line, i as u64 + 1)?.1;
    }
    Ok(head)
}

/// Checks the log's end against the head saved beside it: no entry the
/// head counted may be missing. `at_seq` is the hash the log has at the
/// head's sequence number, if it reaches it.
pub fn against_head(last: &Head, saved: &Head, at_seq: Option<&str>) -> Result<(), Broken> {
    if last.seq < saved.seq {
        return Err(Broken {
            line: last.seq + 1,
            expected_seq: last.seq + 1,
            why: format!(
                "the log ends at entry {} but {} were written: the last {} were removed",
                last.seq,
                saved.seq,
                saved.seq - last.seq
            ),
        });
    }
    if saved.seq > 0 && at_seq != Some(saved.hash.as_str()) {
        return Err(Broken {
            line: saved.seq,
            expected_seq: saved.seq,
            why: "the entry's hash is not the one recorded when it was written".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::entry::Kind;

    fn record(person: &str, order: Option<&str>) -> Record {
        Record {
            action: Kind::ReadOrder,
            person: person.into(),
            display_name: "张伟".into(),
            role: "street_officer".into(),
            scope: "310107005000".into(),
            via: "password".into(),
            request: "GET /api/orders/x".into(),
            order: order.map(Into::into),
            outcome: "ok".into(),
            detail: String::new(),
        }
    }

    fn trail(n: usize) -> Vec<Vec<u8>> {
        let mut head = Head::default();
        (0..n)
            .map(|i| {
                let (mut line, next) =
                    head.seal(record(&format!("p{i}"), Some("o")), 1_000 + i as i64);
                head = next;
                line.pop();
                line
            })
            .collect()
    }

    #[test]
    fn a_sealed_trail_verifies() {
        let lines = trail(5);
        let head = verify(lines.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(head.seq, 5);
        let (hash, body) = split(&lines[4]).unwrap();
        assert_eq!(hash, head.hash);
        let entry: Entry = serde_json::from_slice(body).unwrap();
        assert_eq!(entry.record.person, "p4");
        assert!(
            serde_json::from_slice::<serde_json::Value>(&lines[0]).is_ok(),
            "each line is JSON"
        );
    }

    #[test]
    fn any_changed_byte_is_found_at_its_line() {
        let lines = trail(4);
        for at in 0..lines[2].len() {
            let mut changed = lines.clone();
            changed[2][at] ^= 0x01;
            let e = verify(changed.iter().map(Vec::as_slice)).unwrap_err();
            assert_eq!(e.line, 3, "byte {at}: {e}");
        }
    }

    #[test]
    fn a_removed_or_swapped_entry_is_found() {
        let mut lines = trail(4);
        lines.remove(1);
        assert_eq!(verify(lines.iter().map(Vec::as_slice)).unwrap_err().line, 2);
        let mut lines = trail(4);
        lines.swap(1, 2);
        assert_eq!(verify(lines.iter().map(Vec::as_slice)).unwrap_err().line, 2);
    }

    #[test]
    fn a_cut_tail_is_found_with_the_head() {
        let lines = trail(4);
        let full = verify(lines.iter().map(Vec::as_slice)).unwrap();
        let cut = verify(lines[..2].iter().map(Vec::as_slice)).unwrap();
        let e = against_head(&cut, &full, None).unwrap_err();
        assert!(e.why.contains("last 2 were removed"), "{e}");
        against_head(&full, &full, Some(&full.hash)).unwrap();
    }
}
