//! `[telemetry]`: where OpenTelemetry traces go. Off unless `otlp_endpoint` is set.

use serde::{Deserialize, Serialize};

/// The `tracing` target of the spans that are exported (`tracing::info_span!(target:
/// SPAN_TARGET, ...)`): only these become OpenTelemetry spans, and with export off they are
/// disabled at their call sites.
pub const SPAN_TARGET: &str = "tasker_trace";

/// `[telemetry]` of either role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Base URL of an OTLP/HTTP receiver (`http://collector:4318`); spans are posted to its
    /// `/v1/traces`. Unset: no spans are exported.
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// The URL spans are posted to: the endpoint with `/v1/traces` appended unless it already
    /// ends with it. `None` when export is off.
    pub fn traces_url(&self) -> Option<String> {
        let endpoint = self.otlp_endpoint.as_deref()?.trim();
        if endpoint.is_empty() {
            return None;
        }
        let base = endpoint.trim_end_matches('/');
        Some(if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(endpoint: Option<&str>) -> TelemetryConfig {
        TelemetryConfig {
            otlp_endpoint: endpoint.map(str::to_owned),
        }
    }

    #[test]
    fn traces_url_appends_the_signal_path_once() {
        assert_eq!(with(None).traces_url(), None);
        assert_eq!(with(Some("")).traces_url(), None);
        assert_eq!(
            with(Some("http://127.0.0.1:4318")).traces_url().as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            with(Some("http://c:4318/")).traces_url().as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            with(Some("https://c/otlp/v1/traces"))
                .traces_url()
                .as_deref(),
            Some("https://c/otlp/v1/traces")
        );
    }
}
