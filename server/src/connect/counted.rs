//! What the connect layer counts: `plugboard_connects_total{integration, outcome}` (see `http::metrics` for the
//! exporter and the other series). Its labels are bounded by their types: `integration` can only be made from a
//! catalog, `outcome` is an enum.

/// The `integration` label of `plugboard_connects_total`: made only from a catalog, so there are at most as many
/// values as the catalogs have integrations, plus `unknown` — whatever names clients invent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationLabel(metrics::SharedString);

impl IntegrationLabel {
    /// `platform` if `catalog` (the built-in one, or a project's with its custom integrations) has it, else
    /// `unknown`.
    pub fn of(catalog: &crate::catalog::Catalog, platform: &str) -> Self {
        match catalog.get(platform) {
            Some(entry) => Self(entry.platform.clone().into()),
            None => Self::unknown(),
        }
    }

    /// For a name no catalog at hand knows (or no catalog could be read).
    pub fn unknown() -> Self {
        Self(metrics::SharedString::const_str("unknown"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `outcome` label of `plugboard_connects_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectOutcome {
    Connected,
    Failed,
}

/// Counts one connect attempt that got as far as an outcome: `plugboard_connects_total{integration, outcome}`.
pub fn count_connect(integration: IntegrationLabel, outcome: ConnectOutcome) {
    let outcome = match outcome {
        ConnectOutcome::Connected => "connected",
        ConnectOutcome::Failed => "failed",
    };
    metrics::counter!("plugboard_connects_total", "integration" => integration.0, "outcome" => outcome).increment(1);
}
