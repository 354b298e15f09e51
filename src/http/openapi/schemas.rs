//! The JSON shapes of the HTTP API as OpenAPI schemas: mirrors of what
//! the handlers write and read (the core's `OrderView`, `Window`,
//! `DeviceInfo`, ... and the `json!` answers of the handlers), derived with
//! utoipa here so that no handler or core type needs an annotation. They
//! are never built: they exist to be described. `shapes.rs` serializes the
//! real types and fails when a field is missing here or here too much, and
//! schemathesis checks every live answer against them.

// Mirrors only: their fields are read by the derive, never by code.
#![allow(dead_code)]

use super::vocabulary::{
    CategoryName, ModeName, OutcomeName, SeverityName, SourceName, StageName, StatusName, StepName,
};
use utoipa::ToSchema;

/// Every refusal: the reason in Chinese and English (or English alone for
/// the older messages) and, for a refusal of who asks, its code
/// (docs/PROTOCOL.md 15.4).
#[derive(ToSchema)]
pub struct Error {
    /// What is wrong, and what would be right.
    error: String,
    /// The refusal's code (`no_credentials`, `forbidden`, `csrf`, ...).
    reason: Option<String>,
}

/// A refused `POST /api/events`: nothing was taken.
#[derive(ToSchema)]
pub struct EventsRefused {
    /// The reasons joined.
    error: String,
    /// One reason per broken event (`event 2: unknown category "x"`).
    reasons: Vec<String>,
}

/// A street as an order names it.
#[derive(ToSchema)]
pub struct StreetRef {
    /// 12-digit division code.
    code: String,
    /// Chinese name.
    name: String,
    /// English name.
    name_en: String,
}

/// Where an order happened and who owns it.
#[derive(ToSchema)]
pub struct Place {
    /// H3 cell (resolution 9), 15 hex digits.
    cell: String,
    /// Latitude of the first detection, degrees.
    lat: f64,
    /// Longitude of the first detection, degrees.
    lon: f64,
    /// The owning street; null outside the region map (district only).
    street: Option<StreetRef>,
}

/// One event behind an order.
#[derive(ToSchema)]
pub struct OrderEvent {
    /// Reporting device.
    device: u64,
    /// Its sequence number.
    seq: u64,
    source: SourceName,
    category: CategoryName,
    /// Value reported.
    value: f64,
    /// Event time, Unix ms.
    time_ms: i64,
    /// When the condition began, Unix ms.
    first_seen_ms: i64,
    /// Reports of the condition so far.
    count: u64,
    /// Latitude, degrees.
    lat: f64,
    /// Longitude, degrees.
    lon: f64,
    /// 20-digit camera code, for video events.
    camera: Option<String>,
    /// The registered device's name.
    device_name: Option<String>,
    /// The registered device's address.
    address: Option<String>,
    /// What a caller or patrol reported, personal data masked.
    report: Option<String>,
    /// How far behind its shard's watermark a late event was, ms.
    late_ms: Option<i64>,
}

/// What a step did to an order that its street must see.
#[derive(ToSchema)]
pub struct DisposalNote {
    step: StepName,
    stage: StageName,
    /// Who took it.
    by: String,
    /// Why, or the note that came with it.
    reason: String,
    /// When, Unix ms.
    at_ms: i64,
    /// For a transfer: the street it left (`district` when none).
    from: Option<String>,
    /// For a transfer: the street it went to (`district` when none).
    to: Option<String>,
}

/// An acknowledgement (办结).
#[derive(ToSchema)]
pub struct AckRecord {
    outcome: OutcomeName,
    /// The note, personal data masked.
    note: String,
    /// Who: a street code or `district`.
    by: String,
    /// When the hub recorded it, Unix ms.
    at_ms: i64,
}

/// A photo from the spot, named by its hash (`POST /api/photos`).
#[derive(ToSchema)]
pub struct Photo {
    /// SHA-256 of the file, 64 lowercase hex digits.
    sha256: String,
    /// Its size, bytes.
    bytes: u64,
    /// image/jpeg, image/png or image/webp.
    content_type: String,
}

/// Notes and photos from the spot (现场反馈).
#[derive(ToSchema)]
pub struct FeedbackRecord {
    /// When the hub recorded it, Unix ms.
    at_ms: i64,
    /// Who reported it.
    by: String,
    /// What was found or done, personal data masked.
    note: String,
    photos: Option<Vec<Photo>>,
}

/// One entry of an order's history.
#[derive(ToSchema)]
pub struct HistoryEntry {
    /// When, Unix ms.
    at_ms: i64,
    /// dispatched, updated, acked, escalated, or a step's name.
    what: String,
    /// Details: revision, severity, outcome, the escalation's id.
    detail: Option<String>,
    /// Who, for a person's step.
    by: Option<String>,
}

/// An order as the API shows it (lists leave out `history`).
#[derive(ToSchema)]
pub struct OrderView {
    /// Unique id, stable across revisions.
    id: String,
    /// 1 for a new order, +1 for each update.
    revision: u32,
    /// Sequence number in the log of its scope.
    seq: u64,
    /// When the hub made this revision, Unix ms.
    created_ms: i64,
    severity: SeverityName,
    category: CategoryName,
    /// Incident kind (fire, flood, gas, ...).
    incident_kind: String,
    /// More than one kind of source agrees (多源预警).
    multi_source: bool,
    sources: Vec<SourceName>,
    place: Place,
    /// The triggering events, oldest first.
    events: Vec<OrderEvent>,
    /// All detections that joined.
    event_count: u64,
    /// The disposal plan (处置方案).
    plan: String,
    /// Acknowledge by this time, Unix ms.
    deadline_ms: i64,
    /// Accept (签收) by this time, Unix ms, when the rule sets a limit.
    accept_by_ms: Option<i64>,
    /// Camera for video look-up (视频调阅).
    camera: Option<String>,
    /// Earliest event time involved, Unix ms.
    first_seen_ms: i64,
    /// Latest event time involved, Unix ms.
    last_seen_ms: i64,
    /// 0 for a new condition; n for the n-th re-notification.
    repeat: u32,
    /// For an escalation (督办): the order that missed its limit.
    escalation_of: Option<String>,
    /// The most a listed event was late, ms.
    late_ms: Option<i64>,
    disposal: Option<DisposalNote>,
    status: StatusName,
    ack: Option<AckRecord>,
    stage: StageName,
    /// Resolve by this time when not `deadline_ms` (after a send-back).
    resolve_by_ms: Option<i64>,
    /// Who accepted it (签收人).
    accepted_by: Option<String>,
    /// Who does the work (处置人).
    assignee: Option<String>,
    feedback: Option<Vec<FeedbackRecord>>,
    /// The next limit it can miss, Unix ms.
    next_limit_ms: Option<i64>,
    /// What happened to it (one order only).
    history: Option<Vec<HistoryEntry>>,
}

/// A list of orders.
#[derive(ToSchema)]
pub struct OrderList {
    /// All orders matching (not only those listed).
    count: u64,
    /// Newest first, at most `limit`.
    orders: Vec<OrderView>,
}

/// A device's quality figures and activity.
#[derive(ToSchema)]
pub struct DeviceView {
    device: u64,
    /// Orders it took part in.
    orders: u64,
    confirmed: u64,
    false_alarms: u64,
    resolved: u64,
    /// false_alarms / judged orders.
    false_alarm_rate: f64,
    /// Its detections need corroboration.
    flagged: bool,
    /// Events seen since the hub started.
    events: Option<u64>,
    /// Latest event or heartbeat, Unix ms.
    last_seen_ms: Option<i64>,
    online: bool,
    /// Its clock less the hub's, ms.
    clock_offset_ms: Option<i64>,
    clock_skewed: bool,
    /// How long it has not been heard from, ms, when offline.
    offline_for_ms: Option<i64>,
    /// What the device registry says of it, when registered.
    registered: Option<DeviceInfo>,
}

/// `GET /api/devices`.
#[derive(ToSchema)]
pub struct DeviceList {
    /// All devices matching.
    count: u64,
    /// Most false alarms first.
    devices: Vec<DeviceView>,
}

/// One event for `POST /api/events`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonEvent {
    /// The reporting device (for the hotline: the line or seat).
    device: u64,
    /// Per-device sequence number.
    seq: u64,
    /// Event time, Unix ms; the hub's clock when absent.
    time_ms: Option<i64>,
    source: SourceName,
    category: CategoryName,
    /// Measurement or confidence; 1 when absent.
    value: Option<f64>,
    /// Latitude, degrees.
    lat: f64,
    /// Longitude, degrees.
    lon: f64,
    /// 20-digit camera code.
    camera: Option<String>,
    /// The caller's name (masked before it is kept).
    caller_name: Option<String>,
    /// The caller's phone (masked before it is kept).
    caller_phone: Option<String>,
    /// What was reported (numbers in it are masked).
    description: Option<String>,
}

/// One event or an array of 1 to 1000.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum EventsBody {
    One(JsonEvent),
    Many(Vec<JsonEvent>),
}

/// `POST /api/events` taken: every event is durable.
#[derive(ToSchema)]
pub struct EventsAccepted {
    accepted: u64,
}

/// A rule in force.
#[derive(ToSchema)]
pub struct RuleView {
    name: String,
    category: String,
    /// The test, in words.
    test: String,
    severity: String,
    incident: String,
    deadline_ms: i64,
    plan: String,
}

/// `GET /api/rules`.
#[derive(ToSchema)]
pub struct Rules {
    mode: ModeName,
    rules: Vec<RuleView>,
    /// The rules file in force (TOML).
    source: String,
    /// Cluster mode only: the cluster's revision of the rules in force
    /// here, to send back as `PUT /api/rules?revision=`.
    revision: Option<u64>,
}

/// `PUT /api/rules` taken.
#[derive(ToSchema)]
pub struct RulesReplaced {
    ok: bool,
    /// Rules now in force.
    rules: u64,
    /// Cluster mode only: the cluster's revision the rules are stored at.
    revision: Option<u64>,
}

/// `POST /api/rules/backtest`: the rules proposed, over the recording.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// A whole rules file (TOML).
    rules: String,
    /// Only batches that arrived at or after this time, Unix ms.
    from_ms: Option<i64>,
    /// Only batches that arrived at or before this time, Unix ms.
    to_ms: Option<i64>,
}

/// A backtest started.
#[derive(ToSchema)]
pub struct BacktestStarted {
    job: u64,
    /// `running`.
    state: String,
    /// Bytes of the recording to read.
    total_bytes: u64,
}

/// The hub's backtest job (`GET /api/rules/backtest`).
#[derive(ToSchema)]
pub struct BacktestJob {
    /// Jobs started since the hub started; this is the latest.
    job: u64,
    /// idle, running, done or failed.
    #[schema(pattern = "^(idle|running|done|failed)$")]
    state: String,
    /// Bytes of the recording read.
    done_bytes: u64,
    /// Bytes to read.
    total_bytes: u64,
    /// Events replayed (once done).
    events: u64,
    /// How long the replay took, seconds (once done).
    seconds: f64,
    /// The mode whose profiles ran.
    mode: String,
    /// The rules proposed, as sent.
    rules: String,
    /// Why it failed.
    error: Option<String>,
    /// The comparison of the rules in force and the rules proposed, once
    /// done (docs/RECORDING.md).
    report: Option<serde_json::Value>,
}

/// `GET` and `PUT /api/mode`.
#[derive(ToSchema)]
pub struct ModeAnswer {
    mode: ModeName,
    /// Cluster mode only: the cluster's revision of the mode, to send back
    /// as `PUT /api/mode?revision=`.
    revision: Option<u64>,
}

/// Sign-in: a name and password, or the identity provider's JWT.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum SignIn {
    Password(PasswordSignIn),
    Token(TokenSignIn),
}

/// Sign-in by password.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordSignIn {
    name: String,
    password: String,
}

/// Sign-in by JWT.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenSignIn {
    /// A JWT of the identity provider.
    token: String,
}

/// Who the request comes from (docs/PROTOCOL.md 15.2).
#[derive(ToSchema)]
pub struct Who {
    name: String,
    display_name: String,
    /// street_officer, street_supervisor, district_desk or admin.
    role: String,
    role_zh: String,
    /// A 12-digit street code or `district`.
    scope: String,
    scope_name: String,
    scope_name_en: String,
    /// password, sso, admin_token, subscriber_token or open.
    via: String,
    /// When the session ends, Unix ms; null without a session.
    expires_ms: Option<i64>,
    /// Send it back as X-CSRF-Token; null without a session.
    csrf_token: Option<String>,
}

/// `DELETE /api/session`.
#[derive(ToSchema)]
pub struct SignedOut {
    /// Whether a session was signed out.
    signed_out: bool,
}

/// One entry of the audit trail (docs/PROTOCOL.md 15.5).
#[derive(ToSchema)]
pub struct AuditEntry {
    seq: u64,
    time_ms: i64,
    /// sign_in, sign_in_refused, sign_out, read_order, change_rules,
    /// change_mode, order_step, ingest, refused.
    action: String,
    person: String,
    display_name: String,
    role: String,
    scope: String,
    via: String,
    request: String,
    order: Option<String>,
    outcome: String,
    detail: String,
}

/// `GET /api/audit`.
#[derive(ToSchema)]
pub struct AuditEntries {
    /// Newest first.
    entries: Vec<AuditEntry>,
}

/// A step of the disposal loop, `{"step": NAME, ...fields}`; a
/// platform's token names the officer it acts for in `by`.
#[derive(ToSchema)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum StepBody {
    /// 签收.
    Accept {
        #[schema(nullable = false)]
        note: Option<String>,
        #[schema(nullable = false)]
        by: Option<String>,
    },
    /// 派遣到人.
    Assign {
        to: String,
        #[schema(nullable = false)]
        note: Option<String>,
        #[schema(nullable = false)]
        by: Option<String>,
    },
    /// 现场反馈.
    Feedback {
        #[schema(nullable = false)]
        note: Option<String>,
        #[schema(nullable = false)]
        photos: Option<Vec<Photo>>,
        #[schema(nullable = false)]
        by: Option<String>,
    },
    /// 办结.
    Resolve {
        outcome: OutcomeName,
        #[schema(nullable = false)]
        note: Option<String>,
        #[schema(nullable = false)]
        by: Option<String>,
    },
    /// 退回返工.
    SendBack { reason: String, by: Option<String> },
    /// 核查.
    Verify {
        #[schema(nullable = false)]
        note: Option<String>,
        #[schema(nullable = false)]
        by: Option<String>,
    },
    /// 结案.
    Close {
        #[schema(nullable = false)]
        note: Option<String>,
        #[schema(nullable = false)]
        by: Option<String>,
    },
    /// 转派 / 退单: to a street code or `district`.
    Transfer {
        to: String,
        reason: String,
        #[schema(nullable = false)]
        by: Option<String>,
    },
}

/// What became of a step.
#[derive(ToSchema)]
pub struct StepResult {
    /// applied, unknown, forbidden, wrong_stage, invalid or busy.
    result: String,
    /// The stage after the step, when applied.
    stage: Option<StageName>,
    /// Why not, Chinese then English.
    reason: Option<String>,
    order_id: String,
    step: StepName,
}

/// A refusal of a step: by the dispatcher (a step result) or before it
/// (who asks, a body that is not a step).
#[derive(ToSchema)]
#[serde(untagged)]
pub enum StepRefused {
    Step(StepResult),
    Error(Error),
}

/// A registered device (设备台账).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    /// Its id, as its events carry it.
    id: u64,
    /// What it is (烟感, 水位计, ...).
    #[schema(nullable = false)]
    kind: Option<String>,
    /// Its name (3号楼烟感).
    name: String,
    /// Where it is, as people say it.
    #[schema(nullable = false)]
    address: Option<String>,
    /// Its street, 12 digits (may be empty).
    #[schema(nullable = false)]
    street: Option<String>,
    /// The unit that owns it (权属单位).
    #[schema(nullable = false)]
    owner: Option<String>,
}

/// `GET /api/devices/registry`.
#[derive(ToSchema)]
pub struct Registry {
    count: u64,
    devices: Vec<DeviceInfo>,
}

/// `PUT`/`POST /api/devices/registry` taken.
#[derive(ToSchema)]
pub struct Registered {
    /// Entries given.
    registered: u64,
    /// Entries in the registry now.
    count: u64,
}

/// What a maintenance window covers.
#[derive(ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// One device.
    Device { device: u64 },
    /// Every device of a category in a street.
    Category {
        category: CategoryName,
        street: String,
    },
    /// Every device within a circle (at most 5 km).
    Area { lat: f64, lon: f64, radius_m: f64 },
}

/// A new maintenance window.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWindow {
    target: Target,
    /// From, Unix ms; now when absent.
    from_ms: Option<i64>,
    /// Until, Unix ms: in the future, at most 31 days after `from_ms`.
    until_ms: i64,
    /// Why (检修, 调试, ...).
    reason: String,
}

/// A maintenance window.
#[derive(ToSchema)]
pub struct Window {
    /// MW-n.
    id: String,
    target: Target,
    from_ms: i64,
    until_ms: i64,
    reason: String,
    /// Who set it.
    by: String,
    /// Warnings it kept from dispatching so far.
    suppressed: u64,
}

/// `GET /api/maintenance`.
#[derive(ToSchema)]
pub struct Windows {
    /// Open or to come.
    windows: Vec<Window>,
}

/// `DELETE /api/maintenance/{id}`.
#[derive(ToSchema)]
pub struct WindowRemoved {
    removed: String,
}

/// A street or town of the region map.
#[derive(ToSchema)]
pub struct Street {
    code: String,
    name: String,
    name_en: String,
    /// `street` or `town`.
    kind: String,
}

/// `GET /api/console/session`.
#[derive(ToSchema)]
pub struct ConsoleSession {
    name: String,
    /// A street code or `district`.
    scope: String,
    /// The viewer's street; null for the district.
    street: Option<Street>,
    /// The emergency profile is in force.
    emergency: bool,
}

/// A street's outline on the console's map.
#[derive(ToSchema)]
pub struct MapStreet {
    code: String,
    name: String,
    name_en: String,
    kind: String,
    /// Polygons, each a list of rings of `[lon, lat]` points.
    outline: Vec<Vec<Vec<Vec<f64>>>>,
    /// Drawn, not surveyed.
    approximate: bool,
    /// The viewer's own (every street for the district).
    mine: bool,
}

/// `GET /api/console/map`.
#[derive(ToSchema)]
pub struct ConsoleMap {
    /// Some outline is approximate.
    approximate: bool,
    /// The map data's credit.
    attribution: String,
    streets: Vec<MapStreet>,
}

/// `POST /api/console/orders/{id}/ack`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    outcome: OutcomeName,
    /// At most 2000 characters.
    #[schema(nullable = false)]
    note: Option<String>,
}

/// An ack handed to the dispatcher but not yet durable.
#[derive(ToSchema)]
pub struct AckQueued {
    queued: bool,
    order_id: String,
}

/// One street's figures in the district view.
#[derive(ToSchema)]
pub struct StreetSummary {
    code: String,
    name: String,
    name_en: String,
    open: u64,
    escalated: u64,
    acked: u64,
    ack_p50_s: Option<f64>,
    ack_p90_s: Option<f64>,
    false_alarm_share: Option<f64>,
}

/// `GET /api/console/district`.
#[derive(ToSchema)]
pub struct District {
    streets: Vec<StreetSummary>,
    /// The acknowledgement figures are of orders made since, Unix ms.
    acked_since_ms: i64,
    escalations_open: u64,
    flagged_devices: Vec<DeviceView>,
    offline_devices: Vec<DeviceView>,
    offline_devices_total: i64,
}

/// Bytes of a file (a photo), as the body itself.
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("binary".into())))
            .into()
    }
}

impl ToSchema for Binary {}
