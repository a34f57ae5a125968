//! Startup refuses invalid configuration with one line naming file, key and reason.

use tasker_testkit::{TestConfig, run_to_exit};

use crate::*;

fn refuses(binary: &str, role: &str, role_file: &str, env: &[(&str, &str)], expected: &[&str]) {
    let config = TestConfig::new();
    let path = config.write(&format!("base/{role}.toml"), role_file);
    let (code, stderr) = run_to_exit(binary, &config, env);
    assert_eq!(code, Some(1), "{role}: {stderr}");
    for needle in expected {
        let needle = needle.replace("{file}", &path.display().to_string());
        assert!(
            stderr.contains(&needle),
            "{role}: `{needle}` not in: {stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn invalid_configuration_stops_both_servers() {
    for (binary, role, _) in binaries() {
        refuses(
            binary,
            role,
            "[web.auth]\nenabeld = true\n",
            &[],
            &["{file}", "web.auth.enabeld", "unknown key"],
        );
        refuses(
            binary,
            role,
            "[web.auth\n",
            &[],
            &["{file}", "invalid TOML"],
        );
        refuses(
            binary,
            role,
            "[web.auth]\nenabled = true\n",
            &[],
            &["web.auth.jwt_public_key_path", "needs jwt_public_key_path"],
        );
        refuses(
            binary,
            role,
            "[[web.auth.api_keys]]\nkey = \"sk-secret-dup\"\npermissions = []\ndescription = \"one\"\n[[web.auth.api_keys]]\nkey = \"sk-secret-dup\"\npermissions = []\ndescription = \"two\"\n",
            &[],
            &["\"two\"", "duplicates"],
        );
        refuses(
            binary,
            role,
            "[telemetry]\notlp_endpoint = \"collector:4318\"\n",
            &[],
            &[
                "{file}",
                "telemetry.otlp_endpoint",
                "expected an http:// or https:// URL",
            ],
        );
        refuses(
            binary,
            role,
            "[telemetry]\notlp_endpoint = \"http://user:sk-secret-otlp@collector:4318\"\n",
            &[],
            &["telemetry.otlp_endpoint", "must not carry credentials"],
        );
    }
}

#[test]
fn unparseable_public_key_is_refused_naming_the_key() {
    let config = TestConfig::new();
    let bogus = config.write(
        "keys/bogus.pem",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    );
    config.write(
        "base/orchestration.toml",
        &format!(
            "[web.auth]\nenabled = true\njwt_public_key_path = \"{}\"\n",
            bogus.display()
        ),
    );
    let (code, stderr) = run_to_exit(SERVER, &config, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("web.auth.jwt_public_key_path")
            && stderr.contains("not a valid RSA public key"),
        "{stderr}"
    );
}

#[test]
fn production_requires_auth_unless_explicitly_allowed() {
    let config = TestConfig::new();
    config.write(
        "environments/production/orchestration.toml",
        "[web.auth]\nenabled = false\n",
    );
    let (code, stderr) = run_to_exit(SERVER, &config, &[("TASKER_ENV", "production")]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("web.auth.enabled") && stderr.contains("TASKER_ALLOW_INSECURE=1"),
        "{stderr}"
    );
}

#[test]
fn environment_variable_key_path_overrides_the_file() {
    let config = TestConfig::new();
    config.write(
        "base/orchestration.toml",
        "[web.auth]\nenabled = true\njwt_public_key_path = \"/nonexistent.pem\"\n",
    );
    let key = tasker_testkit::fixture("rsa-a-public.pem");
    let server = tasker_testkit::ServerProcess::try_start(
        SERVER,
        &config,
        &[("TASKER_JWT_PUBLIC_KEY_PATH", key.to_str().unwrap())],
    );
    assert!(
        server.is_ok(),
        "TASKER_JWT_PUBLIC_KEY_PATH must win over the file: {:?}",
        server.err()
    );
}
