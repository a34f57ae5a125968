//! Auth metrics (Prometheus names): requests by method and result, failures by reason,
//! permission denials, and JWT verification time.

use std::time::Duration;

use metrics::{counter, histogram};
use tasker_proto::Permission;

use crate::error::FailureReason;
use crate::principal::AuthMethod;

pub(crate) fn success(method: AuthMethod) {
    counter!("tasker_auth_requests_total", "method" => method.as_str(), "result" => "success")
        .increment(1);
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
