//! The query parameters the shift's lists share: a time range (`from`,
//! `to`: Unix ms or RFC 3339), a status, a street, a page size and the
//! previous page's cursor (`before`, as the last page's `next` gave it).

use crate::dispatch::outbox::{OrderQuery, StreetFilter};
use crate::http::outbox_read::{status_filter, MAX_LIMIT};
use crate::runtime::Shared;
use crate::store::history::TimeRange;
use crate::time_text::parse_time_ms;
use serde::Deserialize;

/// How far back a range reaches when `from` is not given: a day.
pub const DEFAULT_SPAN_MS: i64 = 86_400_000;

/// The parameters as given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    from: Option<String>,
    to: Option<String>,
    status: Option<String>,
    street: Option<String>,
    limit: Option<usize>,
    before: Option<String>,
    /// For exports: csv or xlsx.
    pub format: Option<String>,
}

/// The parameters checked: the query and the range.
pub struct Checked {
    /// What is listed.
    pub query: OrderQuery,
    /// When.
    pub range: TimeRange,
}

impl ListParams {
    /// Checks them against the hub's map and clock; the error is a 400's.
    pub fn check(&self, shared: &Shared, default_limit: usize) -> Result<Checked, String> {
        let to_ms = match &self.to {
            Some(t) => parse_time_ms("to", t)?,
            None => shared.clock.now_ms() + 1,
        };
        let from_ms = match &self.from {
            Some(t) => parse_time_ms("from", t)?,
            None => to_ms - DEFAULT_SPAN_MS,
        };
        if from_ms >= to_ms {
            return Err("from 须早于 to / from must be before to".into());
        }
        let limit = self.limit.unwrap_or(default_limit);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(format!(
                "limit 须为 1..={MAX_LIMIT} / limit must be 1..={MAX_LIMIT}"
            ));
        }
        let street = match self.street.as_deref() {
            None | Some("") => StreetFilter::Any,
            Some("district") => StreetFilter::NoStreet,
            Some(code) if shared.map.street_by_code(code).is_some() => {
                StreetFilter::Code(code.into())
            }
            Some(code) => {
                return Err(format!(
                    "街镇 {code:?} 不在地图上 / street {code:?} is not on the region map"
                ))
            }
        };
        let before = self.before.as_deref().map(parse_cursor).transpose()?;
        Ok(Checked {
            query: OrderQuery {
                status: status_filter(self.status.as_deref())?,
                street,
                limit,
                ..OrderQuery::all(0)
            },
            range: TimeRange {
                from_ms,
                to_ms,
                before,
            },
        })
    }
}

/// A page cursor as written: `CREATED_MS:ID`.
pub fn cursor_text((ms, id): &(i64, String)) -> String {
    format!("{ms}:{id}")
}

fn parse_cursor(text: &str) -> Result<(i64, String), String> {
    text.split_once(':')
        .and_then(|(ms, id)| Some((ms.parse().ok()?, id.to_owned())))
        .ok_or_else(|| {
            format!("before={text:?}: 须为上一页的 next / must be a page's `next` (CREATED_MS:ID)")
        })
}
