//! Engine settings in the units the engine uses (milliseconds), made from
//! the `[engine]` table of the config.

/// Timing of dedup, watermarks and correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// An open condition is re-notified after this long, ms.
    pub repeat_interval_ms: i64,
    /// Detections within this much event time of an incident join it, ms.
    pub correlation_window_ms: i64,
    /// How far behind the newest event time an event may be and still be
    /// on time, ms (the newest taken as the hub's clock when it is ahead of
    /// it). Older ones are counted late.
    pub allowed_lateness_ms: i64,
    /// After this much processing time without events, a shard's watermark
    /// follows the clock, so a quiet part of the map does not hold windows
    /// open, ms.
    pub idle_timeout_ms: i64,
    /// Open conditions and count windows not touched for this much event
    /// time are forgotten (a device that went silent mid-condition), ms.
    pub state_ttl_ms: i64,
    /// Most detections an incident keeps (the rest are counted).
    pub max_incident_detections: usize,
    /// A device with no event or heartbeat for this long is offline, ms.
    pub offline_after_ms: i64,
    /// Devices a shard tracks before it forgets the stalest.
    pub max_devices: usize,
    /// Conditions and count windows a shard keeps before it forgets the
    /// stalest.
    pub max_conditions: usize,
    /// Incidents the correlator keeps before it closes the oldest.
    pub max_incidents: usize,
    /// A device whose latest event time is further ahead of the hub's
    /// clock than this is flagged as having a skewed clock, ms.
    pub clock_skew_threshold_ms: i64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            repeat_interval_ms: 10 * 60_000,
            correlation_window_ms: 60_000,
            allowed_lateness_ms: 30_000,
            idle_timeout_ms: 2_000,
            state_ttl_ms: 60 * 60_000,
            max_incident_detections: 16,
            offline_after_ms: 5 * 60_000,
            max_devices: 4_000_000,
            max_conditions: 1_000_000,
            max_incidents: 200_000,
            clock_skew_threshold_ms: 60_000,
        }
    }
}
