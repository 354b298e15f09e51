//! `GET /api/orders/export?format=csv|xlsx&from=&to=&status=&street=`:
//! a list of orders (as the history lists it, up to 10,000) as a file for
//! the handover or the daily report, columns in Chinese, times in the
//! district's zone. CSV is UTF-8 with a BOM so spreadsheet programs read
//! the Chinese; XLSX is written by rust_xlsxwriter.

use super::params::ListParams;
use crate::dispatch::record::OrderRecord;
use crate::http::auth::MayRead;
use crate::http::error::error;
use crate::http::outbox_read::{read, MAX_LIMIT};
use crate::runtime::Shared;
use crate::time_text::shanghai;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The columns, Chinese first.
const COLUMNS: [&str; 13] = [
    "工单号 id",
    "派单时间 created",
    "街镇 street",
    "类别 category",
    "等级 severity",
    "状态 status",
    "阶段 stage",
    "签收人 accepted_by",
    "处置人 assignee",
    "办结结果 outcome",
    "办结时间 resolved",
    "设备 devices",
    "处置方案 plan",
];

/// `GET /api/orders/export`
pub async fn get_export(
    State(shared): State<Arc<Shared>>,
    _may: MayRead,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return error(
            StatusCode::BAD_REQUEST,
            "参数为 format、from、to、status、street、limit / query parameters are format, from, to, status, street and limit",
        );
    };
    let format = params.format.clone().unwrap_or_else(|| "csv".into());
    if format != "csv" && format != "xlsx" {
        return error(
            StatusCode::BAD_REQUEST,
            format!("format 须为 csv 或 xlsx / format must be csv or xlsx, not {format:?}"),
        );
    }
    let checked = match params.check(&shared, MAX_LIMIT) {
        Ok(c) => c,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let page = match read(&shared, move |s| s.history(&checked.query, &checked.range)).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let rows: Vec<[String; 13]> = page.orders.iter().map(row).collect();
    let (bytes, ty) = if format == "csv" {
        (csv_bytes(&rows), "text/csv; charset=utf-8")
    } else {
        match xlsx_bytes(&rows) {
            Ok(b) => (
                b,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("XLSX: {e}")),
        }
    };
    let name = format!("orders.{format}");
    (
        [
            (header::CONTENT_TYPE, ty.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

fn row(r: &OrderRecord) -> [String; 13] {
    let o = &r.order;
    let mut devices: Vec<String> = o
        .events
        .iter()
        .map(|e| {
            e.device_name
                .clone()
                .unwrap_or_else(|| e.device.to_string())
        })
        .collect();
    devices.dedup();
    [
        o.id.clone(),
        shanghai(o.created_ms),
        o.place
            .street
            .as_ref()
            .map_or_else(|| "区级".into(), |s| s.name.clone()),
        o.category.name().into(),
        o.severity.name().into(),
        r.status.name().into(),
        r.disposal.stage.label_zh().into(),
        r.disposal.accepted_by.clone().unwrap_or_default(),
        r.disposal.assignee.clone().unwrap_or_default(),
        r.ack
            .as_ref()
            .map(|a| a.outcome.name().to_owned())
            .unwrap_or_default(),
        r.ack
            .as_ref()
            .map(|a| shanghai(a.at_ms))
            .unwrap_or_default(),
        devices.join(" "),
        o.plan.clone(),
    ]
}

fn csv_bytes(rows: &[[String; 13]]) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let _ = w.write_record(COLUMNS);
        for r in rows {
            let _ = w.write_record(r);
        }
        let _ = w.flush();
    }
    out
}

fn xlsx_bytes(rows: &[[String; 13]]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("工单")?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (c, name) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *name, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        for (c, v) in r.iter().enumerate() {
            sheet.write_string(i as u32 + 1, c as u16, v)?;
        }
    }
    book.save_to_buffer()
}
