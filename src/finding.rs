//! Findings: what a rule reports, in the fixed NDJSON shape of the contract.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// The event-time window a correlation finding covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Time of the first event in the window (RFC 3339).
    pub start: String,
    /// Time of the event that completed the finding (RFC 3339).
    pub end: String,
}

/// One finding. Field order follows the contract; optional explanations are
/// omitted when empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The rule id.
    pub rule: String,
    /// The rule title.
    pub title: String,
    /// `info`, `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// The rule's tags.
    pub tags: Vec<String>,
    /// Event time of the event that completed the finding (RFC 3339), or
    /// null when that event carried no time.
    pub time: Option<String>,
    /// The tenant of the completing event.
    pub tenantid: String,
    /// The group-by fields and their values (empty for stateless rules).
    #[serde(serialize_with = "ordered_map")]
    pub group: Vec<(String, Option<String>)>,
    /// How many events (or distinct values) the finding counts.
    pub count: u64,
    /// The window the finding covers (correlations only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Ids of evidence events, capped.
    pub events: Vec<String>,
    /// Distinct values counted by a `value_count` correlation, capped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// The new value of a `new_value` correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The network the new value was compared by (`new_value` with `prefix`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Baseline mean of a `spike` correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Baseline standard deviation of a `spike` correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stddev: Option<f64>,
    /// The rendered `output` message (the title when the rule has none).
    pub message: String,
}

impl Finding {
    /// The finding as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("findings always serialise")
    }
}

fn ordered_map<S: Serializer>(
    entries: &[(String, Option<String>)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        map.serialize_entry(k, v)?;
    }
    map.end()
}
