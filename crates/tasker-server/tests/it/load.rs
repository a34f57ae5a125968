//! A bounded loopback load: many concurrent clients with mixed credentials on mixed routes;
//! every response must be the decision the permission table implies — no wrong answer under
//! concurrency (caches, key lookups, metrics).

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::Value;
use tasker_proto::{Permission, PermissionSet};
use tasker_testkit::Token;

use crate::*;

#[derive(Clone)]
enum Credential {
    None,
    Bad(String),
    Bearer(String, PermissionSet),
    Key(&'static str, PermissionSet),
}

#[tokio::test]
async fn concurrent_mixed_credentials_always_get_the_right_decision() {
    let (server, _config) = start(SERVER, "orchestration", &auth_config("", ""));
    let doc: Value = get(&server, "/api-docs/openapi.json", &[])
        .await
        .json()
        .await
        .unwrap();
    let routes: Vec<(String, String)> = crate::route_table::protected_operations(&doc)
        .into_iter()
        .filter(|(method, _, _)| method == "get")
        .map(|(_, path, permission)| (path, permission))
        .collect();
    let grants: [&[&str]; 4] = [
        &["*"],
        &["tasks:*"],
        &["dlq:read", "dlq:stats", "system:config_read"],
        &["templates:read"],
    ];
    let mut credentials = vec![
        Credential::None,
        Credential::Bad(
            Token::with_permissions(&["*"])
                .signed_by("rsa-b-private.pem")
                .sign(),
        ),
        Credential::Bad("garbage.token.here".into()),
        Credential::Key("sk-test-admin-key", PermissionSet::parse(["*"])),
        Credential::Key(
            "sk-test-monitor-key",
            PermissionSet::parse(["tasks:read", "dlq:stats"]),
        ),
    ];
    for grant in grants {
        credentials.push(Credential::Bearer(
            Token::with_permissions(grant).sign(),
            PermissionSet::parse(grant),
        ));
    }
    let credentials = Arc::new(credentials);
    let routes = Arc::new(routes);
    let base = server.base_url.clone();
    let mut clients = Vec::new();
    for seed in 0..16u64 {
        let (credentials, routes, base) = (credentials.clone(), routes.clone(), base.clone());
        clients.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let http = reqwest::Client::new();
            for _ in 0..150 {
                let (path, permission) = &routes[rng.random_range(0..routes.len())];
                let credential = &credentials[rng.random_range(0..credentials.len())];
                let url = format!(
                    "{base}{}",
                    path.replace("{task_uuid}", "6f1d2c3e-0000-4000-8000-000000000001")
                        .replace("{step_uuid}", "6f1d2c3e-0000-4000-8000-000000000002")
                        .replace("{namespace}", "examples")
                        .replace("{name}", "x")
                        .replace("{version}", "1.0.0")
                );
                let request = match credential {
                    Credential::None => http.get(&url),
                    Credential::Bad(token) | Credential::Bearer(token, _) => {
                        http.get(&url).bearer_auth(token)
                    }
                    Credential::Key(key, _) => http.get(&url).header("X-API-Key", *key),
                };
                let status = request.send().await.unwrap().status();
                let permission: Permission = permission.parse().unwrap();
                match credential {
                    Credential::None | Credential::Bad(_) => {
                        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}")
                    }
                    Credential::Bearer(_, set) | Credential::Key(_, set) => {
                        if set.allows(permission) {
                            assert!(
                                status != StatusCode::UNAUTHORIZED
                                    && status != StatusCode::FORBIDDEN
                                    && !status.is_server_error(),
                                "{path}: {status}"
                            );
                        } else {
                            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
                        }
                    }
                }
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
}
