//! RS256 signing of [`Claims`] with a PEM private key.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

use crate::claims::Claims;
use crate::error::JwtError;

/// Signs `claims` with RS256. `private_key_pem` is a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
/// (`BEGIN RSA PRIVATE KEY`) RSA key; `kid` goes into the header when given.
///
/// The returned token is a credential: callers must not log it.
pub fn mint_token(
    private_key_pem: &str,
    claims: &Claims,
    kid: Option<&str>,
) -> Result<String, JwtError> {
    // The PEM decoder also accepts public keys; only private key blocks may sign.
    let label_ok = [
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----",
    ]
    .iter()
    .any(|label| private_key_pem.trim_start().starts_with(label));
    if !label_ok {
        return Err(JwtError::NotPrivateKeyPem);
    }
    let key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
        .map_err(JwtError::InvalidPrivateKey)?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    // The key is parsed when signing, so every failure other than serializing the claims is
    // the key's.
    encode(&header, claims, &key).map_err(|err| match err.kind() {
        ErrorKind::Json(_) => JwtError::Signing(err),
        _ => JwtError::InvalidPrivateKey(err),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

    use super::*;
    use crate::keys::tests::fixture;

    const NOW: i64 = 1_700_000_000;

    fn claims() -> Claims {
        Claims::new(
            "svc-a",
            "tasker-core",
            "tasker-api",
            vec!["tasks:read".into(), "dlq:*".into()],
            Duration::from_secs(3600),
            NOW,
        )
        .unwrap()
    }

    fn verify(token: &str, public_pem: &str) -> Claims {
        let key = DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&["tasker-core"]);
        validation.set_audience(&["tasker-api"]);
        validation.validate_exp = false;
        decode::<Claims>(token, &key, &validation).unwrap().claims
    }

    /// Strips PKCS#8's wrapper (SEQUENCE { version, algorithm, OCTET STRING { RSAPrivateKey } })
    /// to get the PKCS#1 form of the same key.
    fn pkcs1_pem(pkcs8_pem: &str) -> String {
        fn header(der: &[u8]) -> (usize, usize) {
            if der[1] & 0x80 == 0 {
                return (2, der[1] as usize);
            }
            let count = (der[1] & 0x7f) as usize;
            let len = der[2..2 + count]
                .iter()
                .fold(0, |acc, b| (acc << 8) | *b as usize);
            (2 + count, len)
        }
        let body: String = pkcs8_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = STANDARD.decode(body).unwrap();
        let (outer, _) = header(&der);
        let mut rest = &der[outer..];
        for _ in 0..2 {
            let (head, len) = header(rest);
            rest = &rest[head + len..];
        }
        assert_eq!(rest[0], 0x04, "OCTET STRING");
        let (head, len) = header(rest);
        let inner = STANDARD.encode(&rest[head..head + len]);
        let lines: Vec<&str> = inner
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn minted_token_verifies_with_the_public_key() {
        let pair = fixture();
        let token = mint_token(pair.private_key.expose(), &claims(), None).unwrap();
        assert_eq!(verify(&token, &pair.public_key_pem), claims());
        let header = decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid, None);
    }

    #[test]
    fn kid_goes_into_the_header() {
        let pair = fixture();
        let token = mint_token(pair.private_key.expose(), &claims(), Some("key-2026")).unwrap();
        assert_eq!(
            decode_header(&token).unwrap().kid.as_deref(),
            Some("key-2026")
        );
    }

    #[test]
    fn pkcs1_private_keys_are_accepted() {
        let pair = fixture();
        let pkcs1 = pkcs1_pem(pair.private_key.expose());
        let token = mint_token(&pkcs1, &claims(), None).unwrap();
        assert_eq!(verify(&token, &pair.public_key_pem), claims());
    }

    #[test]
    fn non_rsa_or_garbage_keys_are_invalid_private_keys() {
        for pem in [
            "",
            "not a pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            fixture().public_key_pem.as_str(),
        ] {
            let err = mint_token(pem, &claims(), None).unwrap_err();
            assert!(
                matches!(
                    err,
                    JwtError::InvalidPrivateKey(_) | JwtError::NotPrivateKeyPem
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn ec_private_keys_cannot_sign_rs256() {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let pem = crate::keys::pem_encode("PRIVATE KEY", ec.to_pkcs8v1().unwrap().as_ref());
        let err = mint_token(&pem, &claims(), None).unwrap_err();
        assert!(matches!(err, JwtError::InvalidPrivateKey(_)), "{err:?}");
    }
}
