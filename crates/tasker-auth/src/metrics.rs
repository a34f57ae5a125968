//! Auth metrics (Prometheus names): requests by method and result, failures by reason,
//! permission denials, and JWT verification time.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, counter, histogram};
use tasker_proto::Permission;

use crate::error::FailureReason;
use crate::principal::AuthMethod;

/// The success counters of one auth state, registered on the first authenticated request:
/// looking a labelled counter up in the registry took about as long as the cached-token check
/// itself. They are taken lazily, on a request, because requests are served only once the
/// process's recorder is installed; a handle taken before that would count nothing, ever.
#[derive(Default)]
pub(crate) struct Successes {
    handles: OnceLock<[Counter; 3]>,
}

impl Successes {
    pub(crate) fn record(&self, method: AuthMethod) {
        let handles = self.handles.get_or_init(|| {
            [AuthMethod::Jwt, AuthMethod::ApiKey, AuthMethod::Disabled].map(|m| {
                counter!("tasker_auth_requests_total", "method" => m.as_str(), "result" => "success")
            })
        });
        let index = match method {
            AuthMethod::Jwt => 0,
            AuthMethod::ApiKey => 1,
            AuthMethod::Disabled => 2,
        };
        handles[index].increment(1);
    }
}

pub(crate) fn failure(method: &'static str, reason: FailureReason) {
    counter!("tasker_auth_requests_total", "method" => method, "result" => "failure").increment(1);
    counter!("tasker_auth_failures_total", "reason" => reason.as_str()).increment(1);
}

pub(crate) fn denial(permission: Permission) {
    counter!("tasker_permission_denials_total", "permission" => permission.as_str()).increment(1);
}

pub(crate) fn verification_time(elapsed: Duration) {
    histogram!("tasker_auth_jwt_verification_duration_seconds").record(elapsed.as_secs_f64());
}
