//! Every metric the hub exports, as typed fields over one `prometheus`
//! registry: no metric-name strings scattered through the code. Hot paths
//! add per batch (never per event) through handles resolved once here.

use crate::model::{Category, Severity, Source};
use crate::wire::batch::RejectReason;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The hub's metrics.
pub struct Metrics {
    registry: Registry,
    received: Vec<IntCounter>,
    rejected: Vec<IntCounter>,
    /// On-time events that went through the rules.
    pub events_processed: IntCounter,
    /// Retransmits dropped by (device, seq).
    pub events_duplicate_retransmit: IntCounter,
    /// Events older than their device's dedup window.
    pub events_duplicate_too_old: IntCounter,
    /// Events behind the watermark.
    pub events_late: IntCounter,
    /// Late events by what their rules did with them.
    events_late_outcome: IntCounterVec,
    /// Events whose time was ahead of the hub's clock.
    pub events_future: IntCounter,
    /// Devices whose latest event ran ahead of the hub's clock by more than
    /// the clock skew threshold.
    pub devices_clock_skewed: IntGauge,
    /// Batches that entered the pipeline.
    pub batches: IntCounter,
    /// Detections out of the shards.
    pub detections: IntCounter,
    /// Conditions that cleared.
    pub conditions_cleared: IntCounter,
    /// Conditions and windows forgotten after the state TTL.
    pub state_expired: IntCounter,
    /// Incidents opened by the correlator.
    pub incidents_opened: IntCounter,
    /// Incidents closed by the watermark.
    pub incidents_closed: IntCounter,
    /// Incidents open now.
    pub incidents_open: IntGauge,
    warnings: IntCounterVec,
    orders: IntCounterVec,
    order_updates: IntCounterVec,
    orders_acked: IntCounterVec,
    order_steps: IntCounterVec,
    event_to_order: Vec<Histogram>,
    /// The two parts of `event_to_order`: before the dispatcher's round,
    /// and the round itself (commit included).
    order_stages: [Histogram; 2],
    frames_rejected: IntCounterVec,
    connections: IntGaugeVec,
    connections_total: IntCounterVec,
    /// Times ingest found a shard queue full and stopped reading.
    pub backpressure: IntCounter,
    /// Batches queued per shard (set when scraped).
    pub shard_queue: IntGaugeVec,
    /// Devices with a dedup window, per shard.
    pub shard_devices: IntGaugeVec,
    /// Subscribers connected, by scope (street / district).
    pub subscribers: IntGaugeVec,
    /// Orders escalated to the district duty desk.
    pub orders_escalated: IntCounter,
    /// Outbox commits that failed (their orders were kept and tried again).
    pub outbox_errors: IntCounter,
    /// Warnings dropped while the outbox could not be written for so long
    /// that the dispatcher's queue was full.
    pub warnings_dropped: IntCounter,
    /// New incidents' warnings not dispatched: every event came from a
    /// device under a maintenance window.
    pub warnings_suppressed: IntCounter,
    /// Time of one outbox commit (fsync included).
    pub outbox_commit: Histogram,
    /// Orders (and updates, escalations) per outbox commit.
    pub outbox_batch: Histogram,
    /// Closed orders deleted by retention (each exported first).
    outbox_retention_deleted: IntCounter,
    /// Closed orders appended to export files by retention.
    outbox_retention_exported: IntCounter,
    /// Retention passes that failed.
    outbox_retention_failures: IntCounter,
    /// Orders in the outbox by status, at the last retention pass.
    outbox_orders: IntGaugeVec,
    /// Devices flagged for too many false alarms.
    pub devices_flagged: IntGauge,
    /// Devices silent beyond the offline timeout, per shard.
    pub devices_offline: IntGaugeVec,
    /// Times a subscriber fell behind and caught up from the outbox.
    pub subscriber_catchups: IntCounter,
    /// Rules files put in force while running.
    pub rules_reloads: IntCounter,
    /// Connections refused by admission control, by reason.
    pub admission_refused: IntCounterVec,
    /// Connections each QUIC endpoint accepted (`hub.endpoints`).
    pub endpoint_connections: IntCounterVec,
    /// Engine state forgotten because a map reached its limit, by map.
    pub evictions: IntCounterVec,
    /// 1 in emergency mode, 0 in normal mode.
    pub emergency_mode: IntGauge,
    /// HTTP connections being served (at most `limits.max_http_connections`).
    pub http_connections: IntGauge,
    /// HTTP connections accepted past `limits.max_http_connections`.
    pub http_connections_refused: IntCounter,
    /// HTTP request bodies that did not arrive within `limits.http_body_timeout`.
    pub http_body_timeouts: IntCounter,
    /// Console sign-ins, by result (`ok`, or the refusal's reason).
    pub sign_ins: IntCounterVec,
    /// HTTP requests refused for who made them, by reason.
    pub http_refused: IntCounterVec,
    /// Audit entries written and synced.
    pub audit_entries: IntCounter,
    /// Audit batches that could not be written.
    pub audit_errors: IntCounter,
    /// Shard checkpoints written.
    pub engine_checkpoints_ok: IntCounter,
    /// Shard checkpoints that could not be written.
    pub engine_checkpoints_failed: IntCounter,
    /// Shard checkpoints not taken: the previous one was still being written.
    pub engine_checkpoints_skipped: IntCounter,
    /// Size of each shard's latest checkpoint, bytes.
    pub engine_checkpoint_bytes: IntGaugeVec,
    /// Seconds each shard's saved state is behind its state.
    pub engine_checkpoint_age: IntGaugeVec,
    /// Partitions this node holds the lease of and processes.
    pub cluster_partitions_owned: IntGauge,
    /// Partitions nobody holds the lease of, as this node last read.
    pub cluster_partitions_unowned: IntGauge,
    /// Partitions gained and lost, by change.
    pub cluster_ownership_changes: IntCounterVec,
    /// Failed reads and writes of the cluster's buckets, by operation.
    pub cluster_errors: IntCounterVec,
    /// Partitions the map is split into (`cluster.partitions`; 0 embedded).
    pub cluster_partitions: IntGauge,
    /// 1 while this node holds the dispatch lease and dispatches.
    pub cluster_dispatch_owner: IntGauge,
    /// Writes of a stale lease holder refused, by what (detections, orders).
    pub cluster_fenced: IntCounterVec,
    /// Orders-stream messages this node applied to its outbox.
    pub cluster_orders_applied: IntCounter,
    /// Time from a part's first publish to JetStream's acknowledgement.
    pub cluster_publish_seconds: Histogram,
    /// Parts JetStream did not store within the retry time: not acknowledged.
    pub cluster_publish_failed: IntCounter,
    /// Messages not yet delivered to this node's partition consumers.
    pub cluster_consumer_pending: IntGauge,
    /// Messages delivered to this node's partition consumers, not yet acknowledged.
    pub cluster_consumer_ack_pending: IntGauge,
    /// Seconds the oldest saved state of this node's partitions is behind.
    pub cluster_checkpoint_age: IntGauge,
    /// Bytes of the latest saved states of this node's partitions, summed.
    pub cluster_checkpoint_bytes: IntGauge,
    /// Messages of this node's partitions in the stream not yet run here.
    pub cluster_replay_lag: IntGauge,
    /// Partition states saved, loaded, refused or not written, by result.
    pub cluster_checkpoints: IntCounterVec,
    /// The cluster's revision of the rules in force on this node.
    pub cluster_rules_revision: IntGauge,
    /// Changes of the rules or the mode put in force from the cluster, by what.
    pub cluster_rules_applied: IntCounterVec,
    /// The recording's counts (`[record]`).
    pub record: RecordMetrics,
}

/// What the recording (`[record]`, src/record/) did: batches and bytes
/// written, and left out because its queue was full.
#[derive(Clone)]
pub struct RecordMetrics {
    /// Batches appended to the recording.
    pub batches: IntCounter,
    /// Events appended to the recording.
    pub events: IntCounter,
    /// Bytes appended to the recording's segments.
    pub bytes: IntCounter,
    /// Batches left out: the recording's queue was full.
    pub dropped_batches: IntCounter,
    /// Bytes those batches would have taken.
    pub dropped_bytes: IntCounter,
    /// Segments or index entries that could not be written.
    pub write_errors: IntCounter,
    /// Segments deleted by the recording's retention.
    pub segments_deleted: IntCounter,
}

impl RecordMetrics {
    fn new(r: &Registry) -> RecordMetrics {
        RecordMetrics {
            batches: counter(r, "tongguan_record_batches_total", "Accepted batches appended to the recording (record.mode sample or all; in sample mode a batch with none of the sampled devices is not counted)."),
            events: counter(r, "tongguan_record_events_total", "Events appended to the recording."),
            bytes: counter(r, "tongguan_record_bytes_total", "Bytes appended to the recording's segments (docs/RECORDING.md)."),
            dropped_batches: counter(r, "tongguan_record_dropped_batches_total", "Accepted batches left out of the recording because its queue (record.queue_batches) was full: the disk did not keep up. Ingest is never slowed by the recording."),
            dropped_bytes: counter(r, "tongguan_record_dropped_bytes_total", "Bytes the batches left out of the recording would have taken."),
            write_errors: counter(r, "tongguan_record_write_errors_total", "Writes to the recording that failed (the batch is lost to the recording; the segment is closed and a new one begun)."),
            segments_deleted: counter(r, "tongguan_record_segments_deleted_total", "Recording segments deleted by its retention (record.max_bytes, record.max_age)."),
        }
    }
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("valid metric");
    r.register(Box::new(h.clone())).expect("unique metric");
    h
}

/// A registered histogram family.
fn histogram_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric");
    r.register(Box::new(h.clone())).expect("unique metric");
    h
}

/// `tongguan_order_stage_seconds{stage}`: where an order's
/// `tongguan_event_to_order_seconds` went, in two parts.
fn order_stages(r: &Registry) -> [Histogram; 2] {
    let vec = histogram_vec(
        r,
        "tongguan_order_stage_seconds",
        "Parts of tongguan_event_to_order_seconds: stage=before_dispatch from the batch's arrival to the dispatcher round that took the warning (ingest, shard queue, shard, correlation), stage=dispatch that round (building, the outbox commit with its fsync, handing to subscribers).",
        &["stage"],
        vec![
            0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.005,
            0.01, 0.025, 0.1,
        ],
    );
    ["before_dispatch", "dispatch"].map(|s| vec.with_label_values(&[s]))
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All metrics, registered, at zero.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let received_vec = counter_vec(
            &r,
            "tongguan_events_received_total",
            "Events that passed validation and entered the pipeline.",
            &["source", "category"],
        );
        let received = Source::ALL
            .iter()
            .flat_map(|s| Category::ALL.iter().map(move |c| (s, c)))
            .map(|(s, c)| received_vec.with_label_values(&[s.name(), c.name()]))
            .collect();
        let rejected_vec = counter_vec(
            &r,
            "tongguan_events_rejected_total",
            "Events rejected by validation, by reason.",
            &["reason"],
        );
        let rejected = RejectReason::ALL
            .iter()
            .map(|x| rejected_vec.with_label_values(&[x.name()]))
            .collect();
        let dup = counter_vec(
            &r,
            "tongguan_events_duplicate_total",
            "Events dropped as duplicates: retransmits by (device, seq), or older than the device's window.",
            &["reason"],
        );
        let hist = histogram_vec(
            &r,
            "tongguan_event_to_order_seconds",
            "Time from the arrival at the hub of the batch that triggered an order to the order handed to its subscribers.",
            &["severity"],
            vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.005, 0.01, 0.025,
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ],
        );
        let event_to_order = Severity::ALL
            .iter()
            .map(|s| hist.with_label_values(&[s.name()]))
            .collect();
        let incidents_open = IntGauge::new(
            "tongguan_incidents_open",
            "Incidents open in the correlator.",
        )
        .expect("valid metric");
        r.register(Box::new(incidents_open.clone()))
            .expect("unique metric");
        let frames_rejected = counter_vec(
            &r,
            "tongguan_frames_rejected_total",
            "Frames that closed their connection, by reason.",
            &["reason"],
        );
        let checkpoints = counter_vec(
            &r,
            "tongguan_engine_checkpoints_total",
            "Shard checkpoints (the engine's state saved for a restart, DATA_DIR/engine/), by result: ok, failed (could not be written), skipped (the previous one was still being written).",
            &["result"],
        );
        let m = Metrics {
            cluster_partitions_owned: gauge(
                &r,
                "tongguan_cluster_partitions_owned",
                "Cluster mode: partitions this node holds the lease of and processes.",
            ),
            cluster_partitions_unowned: gauge(
                &r,
                "tongguan_cluster_partitions_unowned",
                "Cluster mode: partitions nobody holds the lease of, as this node last read the leases (0 when all is well; above 0 for longer than a lease time: nobody processes them).",
            ),
            cluster_ownership_changes: counter_vec(
                &r,
                "tongguan_cluster_ownership_changes_total",
                "Cluster mode: partitions this node gained or lost, by change.",
                &["change"],
            ),
            cluster_errors: counter_vec(
                &r,
                "tongguan_cluster_errors_total",
                "Cluster mode: failed operations against NATS, by operation: read, renew, release (the members and leases buckets), publish (an attempt to store a batch's part in the events stream), consume (a partition consumer restarted), pending (a partition consumer's info not read), book (the device book's bucket not written or followed), photos (the photo store not written or read), activity (the other nodes not asked about devices), rules (the rules' bucket not written or followed, or a rules text there that does not compile on this node).",
                &["operation"],
            ),
            cluster_dispatch_owner: gauge(
                &r,
                "tongguan_cluster_dispatch_owner",
                "Cluster mode: 1 while this node holds the dispatch lease and runs the district's correlation and dispatch, else 0 (the nodes' sum should be 1).",
            ),
            cluster_fenced: counter_vec(
                &r,
                "tongguan_cluster_fenced_total",
                "Cluster mode: writes of a node whose lease had moved on (its epoch lower than the newest seen), refused, by what: detections (of a partition), orders (of the dispatch).",
                &["what"],
            ),
            cluster_orders_applied: counter(
                &r,
                "tongguan_cluster_orders_applied_total",
                "Cluster mode: messages of the orders stream this node applied to its own outbox (orders and dispatcher state written by the dispatch owner), so /api/orders and SUBSCRIBE answer alike on every node.",
            ),
            cluster_partitions: gauge(
                &r,
                "tongguan_cluster_partitions",
                "Cluster mode: the partitions the map is split into (cluster.partitions), the sum the nodes' tongguan_cluster_partitions_owned should reach; 0 in the embedded hub.",
            ),
            cluster_publish_seconds: histogram(
                &r,
                "tongguan_cluster_publish_seconds",
                "Cluster mode: time from the first publish of a batch's part to the events stream to JetStream's acknowledgement (stored on a quorum), publishes again after errors included.",
                vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            ),
            cluster_publish_failed: counter(
                &r,
                "tongguan_cluster_publish_failed_total",
                "Cluster mode: parts of batches the events stream did not store within 10 s of publishing again: their batches were not acknowledged (the devices send them again). Each failed attempt counts in tongguan_cluster_errors_total{operation=\"publish\"}.",
            ),
            cluster_consumer_pending: gauge(
                &r,
                "tongguan_cluster_consumer_pending",
                "Cluster mode: events stream messages not yet delivered to the consumers of the partitions this node owns, summed over them (polled every 5 s): the backlog of this node's partitions.",
            ),
            cluster_consumer_ack_pending: gauge(
                &r,
                "tongguan_cluster_consumer_ack_pending",
                "Cluster mode: events stream messages delivered to this node's partition consumers and not yet acknowledged (being run, or waiting for their orders to be durable), summed over its partitions (polled every 5 s).",
            ),
            cluster_checkpoint_age: gauge(
                &r,
                "tongguan_cluster_checkpoint_age_seconds",
                "Cluster mode: how far the saved engine state (bucket tg_engine) of this node's partitions is behind what they ran, the oldest of them, seconds (0 when every saved state is current): what a new owner would replay.",
            ),
            cluster_checkpoint_bytes: gauge(
                &r,
                "tongguan_cluster_checkpoint_bytes",
                "Cluster mode: size of the latest saved engine state of each of this node's partitions, summed, bytes (a value must stay under the NATS servers' max_payload).",
            ),
            cluster_replay_lag: gauge(
                &r,
                "tongguan_cluster_replay_lag_messages",
                "Cluster mode: messages of this node's partitions in the events stream not yet run here, summed over them (after a partition moves here: the replay still to do).",
            ),
            cluster_checkpoints: counter_vec(
                &r,
                "tongguan_cluster_checkpoints_total",
                "Cluster mode: partition engine states, by result: saved, loaded (by a new owner), refused (a saved state this node cannot read: the partition replays the stream from its start), failed (not written; tried again an interval later), fenced (another node wrote the partition's state since: this node stops the partition).",
                &["result"],
            ),
            cluster_rules_revision: gauge(
                &r,
                "tongguan_cluster_rules_revision",
                "Cluster mode: the revision in the rules' bucket of the rules in force on this node (the nodes should agree within a moment of a change); 0 in the embedded hub.",
            ),
            cluster_rules_applied: counter_vec(
                &r,
                "tongguan_cluster_rules_applied_total",
                "Cluster mode: changes another node wrote to the rules' bucket that this node put in force (at start or while running), by what: rules, mode.",
                &["what"],
            ),
            engine_checkpoints_ok: checkpoints.with_label_values(&["ok"]),
            engine_checkpoints_failed: checkpoints.with_label_values(&["failed"]),
            engine_checkpoints_skipped: checkpoints.with_label_values(&["skipped"]),
            engine_checkpoint_bytes: gauge_vec(
                &r,
                "tongguan_engine_checkpoint_bytes",
                "Size of each shard's latest checkpoint, bytes.",
                &["shard"],
            ),
            engine_checkpoint_age: gauge_vec(
                &r,
                "tongguan_engine_checkpoint_age_seconds",
                "Seconds since each shard's saved state was last known to be its state (a checkpoint written, or nothing changed since): what a kill -9 now would cost the engine.",
                &["shard"],
            ),
            received,
            rejected,
            events_processed: counter(
                &r,
                "tongguan_events_processed_total",
                "On-time events that went through the rules.",
            ),
            events_duplicate_retransmit: dup.with_label_values(&["retransmit"]),
            events_duplicate_too_old: dup.with_label_values(&["too_old"]),
            events_late: counter(
                &r,
                "tongguan_events_late_total",
                "Events older than their shard's watermark (late): counted here, not as processed; tongguan_events_late_outcome_total says what their rules did with them.",
            ),
            events_late_outcome: counter_vec(
                &r,
                "tongguan_events_late_outcome_total",
                "Late events by outcome: alarmed (made a detection, its order marked late), judged (went through the rule, nothing fired), skipped (the rule's state could not take it: a hold or rate out of its device's order, a cell's count window). Sums to tongguan_events_late_total.",
                &["outcome"],
            ),
            events_future: counter(
                &r,
                "tongguan_events_future_total",
                "Events whose time was ahead of the hub's clock when their shard took them: processed, with the clock taken as their time for the watermark.",
            ),
            devices_clock_skewed: gauge(
                &r,
                "tongguan_devices_clock_skewed",
                "Devices whose latest event time ran ahead of the hub's clock by more than engine.clock_skew_threshold.",
            ),
            batches: counter(
                &r,
                "tongguan_batches_received_total",
                "Event batches that entered the pipeline.",
            ),
            detections: counter(
                &r,
                "tongguan_detections_total",
                "Conditions found by the rules (new or re-notified).",
            ),
            conditions_cleared: counter(
                &r,
                "tongguan_conditions_cleared_total",
                "Open conditions that cleared.",
            ),
            state_expired: counter(
                &r,
                "tongguan_engine_state_expired_total",
                "Conditions and count windows forgotten after the state TTL.",
            ),
            incidents_opened: counter(
                &r,
                "tongguan_incidents_opened_total",
                "Incidents opened by the correlator.",
            ),
            incidents_closed: counter(
                &r,
                "tongguan_incidents_closed_total",
                "Incidents closed when the watermark passed their window.",
            ),
            incidents_open,
            warnings: counter_vec(
                &r,
                "tongguan_warnings_total",
                "Warnings out of the correlator (new incidents and updates).",
                &["category", "severity"],
            ),
            orders: counter_vec(
                &r,
                "tongguan_orders_dispatched_total",
                "New dispatch orders handed to subscribers.",
                &["street", "severity"],
            ),
            order_updates: counter_vec(
                &r,
                "tongguan_order_updates_total",
                "Updates of dispatched orders (a source joined, severity rose).",
                &["street", "severity"],
            ),
            orders_acked: counter_vec(
                &r,
                "tongguan_orders_acked_total",
                "Order acknowledgements: recorded by outcome, or ignored as duplicate, unknown_order or forbidden.",
                &["outcome"],
            ),
            order_steps: counter_vec(
                &r,
                "tongguan_order_steps_total",
                "Steps of the disposal loop (accept, assign, feedback, resolve, send_back, verify, close, transfer) by what became of them.",
                &["step", "result"],
            ),
            event_to_order,
            order_stages: order_stages(&r),
            frames_rejected,
            connections: gauge_vec(
                &r,
                "tongguan_connections",
                "Open connections, by role.",
                &["role"],
            ),
            connections_total: counter_vec(
                &r,
                "tongguan_connections_total",
                "Connections accepted, by role.",
                &["role"],
            ),
            backpressure: counter(
                &r,
                "tongguan_ingest_backpressure_total",
                "Times ingest found a shard queue full and stopped reading.",
            ),
            shard_queue: gauge_vec(
                &r,
                "tongguan_shard_queue_batches",
                "Batches waiting in each shard's queue.",
                &["shard"],
            ),
            shard_devices: gauge_vec(
                &r,
                "tongguan_shard_devices",
                "Devices tracked by each shard.",
                &["shard"],
            ),
            subscribers: gauge_vec(
                &r,
                "tongguan_subscribers",
                "Subscribers connected, by scope.",
                &["scope"],
            ),
            orders_escalated: counter(&r, "tongguan_orders_escalated_total", "Orders not acknowledged by their deadline, escalated to the district duty desk."),
            outbox_errors: counter(&r, "tongguan_outbox_errors_total", "Outbox commits that failed; their orders were not dispatched then, and were kept to be committed again."),
            warnings_dropped: counter(&r, "tongguan_warnings_dropped_total", "Warnings dropped, oldest first, because the outbox could not be written for so long that the dispatcher's queue filled."),
            warnings_suppressed: counter(&r, "tongguan_warnings_suppressed_total", "Warnings of new incidents not dispatched because every event came from inside a maintenance window (GET /api/maintenance counts them per window)."),
            outbox_commit: histogram(&r, "tongguan_outbox_commit_seconds", "Time of one durable outbox commit, fsync included.", vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
            outbox_batch: histogram(&r, "tongguan_outbox_batch_orders", "Orders, updates and escalations written per outbox commit.", vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0]),
            outbox_retention_deleted: counter(&r, "tongguan_outbox_retention_deleted_total", "Closed (acknowledged) orders deleted from the outbox by retention, each first appended to an export file under DATA_DIR/exports/ and synced."),
            outbox_retention_exported: counter(&r, "tongguan_outbox_retention_exported_total", "Closed orders appended to export files by retention; above the deleted total only when a pass failed between an export and its deletion (those orders are exported again)."),
            outbox_retention_failures: counter(&r, "tongguan_outbox_retention_failures_total", "Retention passes that failed (the outbox or an export file could not be written); nothing unexported was deleted, and the pass runs again after retention.retention_interval."),
            outbox_orders: gauge_vec(&r, "tongguan_outbox_orders", "Orders in the outbox by status, counted from its index at the last retention pass (at start, then every retention.retention_interval).", &["status"]),
            devices_flagged: gauge(&r, "tongguan_devices_flagged", "Devices flagged for too many false alarms: their detections need corroboration."),
            devices_offline: gauge_vec(&r, "tongguan_devices_offline", "Devices silent beyond the offline timeout, per shard.", &["shard"]),
            subscriber_catchups: counter(&r, "tongguan_subscriber_catchups_total", "Times a subscriber fell behind its queue and caught up from the outbox."),
            rules_reloads: counter(&r, "tongguan_rules_reloads_total", "Rules files put in force while running (API or SIGHUP)."),
            admission_refused: counter_vec(&r, "tongguan_admission_refused_total", "Connections refused by admission control: hub_full (max_connections) or token_connections (max_connections_per_token).", &["reason"]),
            endpoint_connections: counter_vec(&r, "tongguan_quic_endpoint_connections_total", "Connections each QUIC endpoint (hub.endpoints, numbered from 0) accepted past admission control: how the kernel spread them over the SO_REUSEPORT sockets.", &["endpoint"]),
            evictions: counter_vec(&r, "tongguan_engine_evictions_total", "Engine state forgotten because its map reached the configured limit, by map.", &["map"]),
            emergency_mode: gauge(&r, "tongguan_emergency_mode", "1 when the emergency profile of the rules is in force, 0 in normal mode."),
            http_connections: gauge(&r, "tongguan_http_connections", "HTTP connections being served, at most limits.max_http_connections."),
            http_connections_refused: counter(&r, "tongguan_http_connections_refused_total", "HTTP connections accepted past limits.max_http_connections: only /healthz, /readyz and /metrics were answered on them (others got 503), or, past a small reserve, they were closed at once."),
            http_body_timeouts: counter(&r, "tongguan_http_body_timeouts_total", "HTTP requests whose body did not arrive within limits.http_body_timeout (answered 408, connection closed)."),
            sign_ins: counter_vec(&r, "tongguan_sign_ins_total", "Console sign-ins (POST /api/session), by result: ok, or the refusal's reason (wrong_password, expired, bad_signature, ...).", &["result"]),
            http_refused: counter_vec(&r, "tongguan_http_refused_total", "HTTP requests refused for who made them (no or bad credentials, a role that may not, a missing CSRF token), by reason.", &["reason"]),
            audit_entries: counter(&r, "tongguan_audit_entries_total", "Audit trail entries written and synced to DATA_DIR/audit/audit.log."),
            audit_errors: counter(&r, "tongguan_audit_errors_total", "Audit trail batches that could not be written (the hub logs them and goes on)."),
            record: RecordMetrics::new(&r),
            registry: r,
        };
        // Series that exist from the start read 0, not "no data".
        for code in crate::wire::ErrorCode::rejections() {
            m.frames_rejected.with_label_values(&[code.name()]);
        }
        for answer in crate::dispatch::dispatcher::AckAnswer::all() {
            m.orders_acked.with_label_values(&[answer.name()]);
        }
        for step in crate::dispatch::lifecycle::StepKind::ALL {
            for result in crate::dispatch::lifecycle::StepAnswer::NAMES {
                m.order_steps.with_label_values(&[step.name(), result]);
            }
        }
        m.sign_ins.with_label_values(&["ok"]);
        for reason in ["hub_full", "token_connections"] {
            m.admission_refused.with_label_values(&[reason]);
        }
        for outcome in ["alarmed", "judged", "skipped"] {
            m.events_late_outcome.with_label_values(&[outcome]);
        }
        for map in ["devices", "conditions", "incidents"] {
            m.evictions.with_label_values(&[map]);
        }
        for role in crate::wire::control::Role::ALL.map(crate::wire::control::Role::name) {
            m.connections.with_label_values(&[role]);
            m.connections_total.with_label_values(&[role]);
        }
        for scope in ["street", "district"] {
            m.subscribers.with_label_values(&[scope]);
        }
        for status in crate::dispatch::record::Status::ALL {
            m.outbox_orders.with_label_values(&[status.name()]);
        }
        for op in [
            "read", "renew", "release", "publish", "consume", "pending", "book", "photos",
            "activity", "rules",
        ] {
            m.cluster_errors.with_label_values(&[op]);
        }
        for result in ["saved", "loaded", "refused", "failed", "fenced"] {
            m.cluster_checkpoints.with_label_values(&[result]);
        }
        for what in ["detections", "orders"] {
            m.cluster_fenced.with_label_values(&[what]);
        }
        for what in ["rules", "mode"] {
            m.cluster_rules_applied.with_label_values(&[what]);
        }
        for change in ["gained", "lost"] {
            m.cluster_ownership_changes.with_label_values(&[change]);
        }
        m
    }

    /// The counter of events received from `source` about `category`.
    #[inline]
    pub fn received(&self, source: Source, category: Category) -> &IntCounter {
        &self.received[source.index() * Category::ALL.len() + category.index()]
    }

    /// The counter of events rejected for `reason`.
    #[inline]
    pub fn rejected(&self, reason: RejectReason) -> &IntCounter {
        &self.rejected[reason as usize - 1]
    }

    /// Creates the per-street series at zero, so dashboards show 0 rather
    /// than "no data" before the first order.
    pub fn init_streets<'a>(&self, streets: impl Iterator<Item = &'a str>) {
        for street in streets.chain(["none"]) {
            for severity in Severity::ALL {
                self.orders.with_label_values(&[street, severity.name()]);
                self.order_updates
                    .with_label_values(&[street, severity.name()]);
            }
        }
        for category in Category::ALL {
            for severity in Severity::ALL {
                self.warnings
                    .with_label_values(&[category.name(), severity.name()]);
            }
        }
    }

    /// Adds a shard's counts since its last report.
    pub fn record_shard(&self, s: &crate::engine::shard::ShardStats) {
        self.events_processed.inc_by(s.processed);
        self.events_duplicate_retransmit.inc_by(s.retransmits);
        self.events_duplicate_too_old.inc_by(s.too_old);
        self.events_late.inc_by(s.late);
        if s.late > 0 {
            let judged = s.late - s.late_alarmed - s.late_skipped;
            for (outcome, n) in [
                ("alarmed", s.late_alarmed),
                ("judged", judged),
                ("skipped", s.late_skipped),
            ] {
                self.events_late_outcome
                    .with_label_values(&[outcome])
                    .inc_by(n);
            }
        }
        self.events_future.inc_by(s.future);
        self.devices_clock_skewed
            .add(s.skew_flagged as i64 - s.skew_cleared as i64);
        self.detections.inc_by(s.detections);
        self.conditions_cleared.inc_by(s.cleared);
        self.state_expired.inc_by(s.expired);
        self.evictions
            .with_label_values(&["devices"])
            .inc_by(s.evicted_devices);
        self.evictions
            .with_label_values(&["conditions"])
            .inc_by(s.evicted_conditions);
    }

    /// Adds the correlator's counts since its last report.
    pub fn record_correlator(&self, c: &crate::engine::correlate::CorrelatorStats, open: usize) {
        self.incidents_opened.inc_by(c.opened);
        self.incidents_closed.inc_by(c.closed);
        self.evictions
            .with_label_values(&["incidents"])
            .inc_by(c.evicted);
        self.incidents_open.set(open as i64);
    }

    /// Counts a warning.
    pub fn warning(&self, category: Category, severity: Severity) {
        self.warnings
            .with_label_values(&[category.name(), severity.name()])
            .inc();
    }

    /// Counts an order (revision 1) or an update, for a street code or
    /// "none", and observes its latency.
    pub fn order(&self, street: &str, severity: Severity, revision: u32, latency_s: f64) {
        let vec = if revision <= 1 {
            &self.orders
        } else {
            &self.order_updates
        };
        vec.with_label_values(&[street, severity.name()]).inc();
        self.event_to_order[severity as usize].observe(latency_s);
    }

    /// Splits an order's latency: `before_s` from the batch's arrival to
    /// the dispatcher round that took its warning, `round_s` that round
    /// (building, commit with its fsync, handing to subscribers).
    pub fn order_stages(&self, before_s: f64, round_s: f64) {
        self.order_stages[0].observe(before_s);
        self.order_stages[1].observe(round_s);
    }

    /// Counts an acknowledgement by outcome, or by why it was ignored
    /// (duplicate, unknown_order, forbidden).
    pub fn order_acked(&self, outcome: &str) {
        self.orders_acked.with_label_values(&[outcome]).inc();
    }

    /// Counts a step of the disposal loop by what became of it.
    pub fn order_step(&self, step: &str, result: &str) {
        self.order_steps.with_label_values(&[step, result]).inc();
    }

    /// Counts a frame that closed its connection.
    pub fn frame_rejected(&self, reason: &str) {
        self.frames_rejected.with_label_values(&[reason]).inc();
    }

    /// A connection of `role` opened (+1) or closed (-1).
    pub fn connection(&self, role: &str, delta: i64) {
        self.connections.with_label_values(&[role]).add(delta);
        if delta > 0 {
            self.connections_total.with_label_values(&[role]).inc();
        }
    }

    /// Counts a retention pass: orders deleted and exported, or a failure.
    pub fn outbox_retention(&self, deleted: u64, exported: u64, failed: bool) {
        self.outbox_retention_deleted.inc_by(deleted);
        self.outbox_retention_exported.inc_by(exported);
        if failed {
            self.outbox_retention_failures.inc();
        }
    }

    /// Sets the orders the outbox holds with `status`.
    pub fn outbox_orders(&self, status: crate::dispatch::record::Status, n: u64) {
        self.outbox_orders
            .with_label_values(&[status.name()])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("exposition is UTF-8")
    }
}
