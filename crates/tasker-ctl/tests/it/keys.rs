//! `auth generate-keys`.

use std::time::Duration;

use tempfile::TempDir;

use crate::support::{Ctl, mode};

/// Runs the seed's exact command in `cwd`.
fn generate(cwd: &std::path::Path, extra: &[&str]) -> crate::support::Output {
    Ctl::new(cwd)
        .args([
            "auth",
            "generate-keys",
            "--output-dir",
            "./keys",
            "--key-size",
            "2048",
        ])
        .args(extra)
        .run()
}

#[test]
fn seed_command_writes_a_working_pair_with_a_private_file_mode_0600() {
    let cwd = TempDir::new().unwrap();
    let out = generate(cwd.path(), &[]).expect_code(0);
    let private = cwd.path().join("keys/jwt-private-key.pem");
    let public = cwd.path().join("keys/jwt-public-key.pem");
    assert_eq!(mode(&private), 0o600);
    assert_eq!(mode(&public), 0o644);

    let private_pem = std::fs::read_to_string(&private).unwrap();
    let public_pem = std::fs::read_to_string(&public).unwrap();
    assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));

    // The pair signs and verifies.
    let claims = tasker_jwt::Claims::new(
        "s",
        "i",
        "a",
        vec![],
        Duration::from_secs(60),
        crate::support::now(),
    )
    .unwrap();
    let token = tasker_jwt::mint_token(&private_pem, &claims, None).unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["a"]);
    jsonwebtoken::decode::<tasker_jwt::Claims>(&token, &key, &validation).unwrap();

    // The key id is the public key's RFC 7638 thumbprint, with the command that uses it.
    let kid = tasker_auth::rsa_thumbprint(&public_pem).unwrap();
    assert!(
        out.stdout.contains(&format!(
            "Key id (RFC 7638 thumbprint of the public key): {kid}\n"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("tasker-ctl auth generate-token --kid {kid} ")),
        "{}",
        out.stdout
    );

    // Paths and the configuration to use, never key material.
    let public_abs = std::path::absolute(&public).unwrap();
    let private_abs = std::path::absolute(&private).unwrap();
    assert!(out.stdout.contains(&format!(
        "jwt_public_key_path = \"{}\"",
        public_abs.display()
    )));
    assert!(out.stdout.contains(&format!(
        "TASKER_JWT_PRIVATE_KEY_PATH={}",
        private_abs.display()
    )));
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("BEGIN"), "{text}");
        for line in private_pem
            .lines()
            .chain(public_pem.lines())
            .skip(1)
            .take(3)
        {
            assert!(!text.contains(line));
        }
    }
}

#[test]
fn existing_files_are_kept_without_force_and_replaced_with_it() {
    let cwd = TempDir::new().unwrap();
    let dir = cwd.path().join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    let public = dir.join("jwt-public-key.pem");
    let private = dir.join("jwt-private-key.pem");
    std::fs::write(&public, "old public").unwrap();

    let out = generate(cwd.path(), &[]).expect_code(1);
    assert!(out.stderr.contains("jwt-public-key.pem"), "{}", out.stderr);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&public).unwrap(), "old public");
    assert!(!private.exists(), "nothing is written when refusing");

    // A world-readable private key file is replaced by one created 0600.
    std::fs::write(&private, "old private").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = generate(cwd.path(), &[]).expect_code(1);
    assert!(out.stderr.contains("jwt-private-key.pem"), "{}", out.stderr);

    generate(cwd.path(), &["--force"]).expect_code(0);
    assert!(
        std::fs::read_to_string(&public)
            .unwrap()
            .contains("BEGIN PUBLIC KEY")
    );
    assert!(
        std::fs::read_to_string(&private)
            .unwrap()
            .contains("BEGIN PRIVATE KEY")
    );
    assert_eq!(mode(&private), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 2, "no temporary files remain");
}

#[test]
fn unsupported_key_sizes_are_usage_errors() {
    let cwd = TempDir::new().unwrap();
    for size in ["1024", "2047", "8192", "big"] {
        let out = Ctl::new(cwd.path())
            .args(["auth", "generate-keys", "--key-size", size])
            .run()
            .expect_code(2);
        assert!(out.stderr.contains("2048, 3072 or 4096"), "{}", out.stderr);
    }
    assert!(!cwd.path().join("keys").exists());
}

#[test]
fn output_directory_defaults_to_keys_and_is_created() {
    let cwd = TempDir::new().unwrap();
    Ctl::new(cwd.path())
        .args(["auth", "generate-keys"])
        .run()
        .expect_code(0);
    assert!(cwd.path().join("keys/jwt-private-key.pem").is_file());
    assert!(cwd.path().join("keys/jwt-public-key.pem").is_file());
}
