//! What authenticating a request costs (issue 17): a service token (its SHA-256, compared with
//! every configured hash in constant time) against a person's access token (an ES256 JWT: the
//! header, the key by `kid`, the signature, the claims) with the issuer's keys cached; the first
//! token after the issuer rotates its key (one fetch of its JWKS, over loopback HTTP here); a
//! made-up `kid` inside the refetch bound; and whole requests over loopback HTTP with each.

use std::time::{Duration, Instant};

use audit_api::jwt::{JwtSettings, JwtVerifier};
use base64::Engine;
use integration_tests::people::{AUDIENCE, Issuer};
use serde_json::json;

use crate::storm::percentile;

/// µs per call of `f`, over `n` calls: (median, p90, p99) of each call timed on its own.
async fn micros<F: AsyncFn() -> bool>(n: usize, f: F) -> anyhow::Result<(f64, f64, f64)> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let ok = f().await;
        samples.push(started.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(ok, "an authentication gave the wrong answer");
    }
    samples.sort_by(f64::total_cmp);
    Ok((
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99),
    ))
}

fn row(what: &str, (p50, p90, p99): (f64, f64, f64)) {
    println!("{what:<58} {p50:>9.1} {p90:>9.1} {p99:>9.1}");
}

fn settings(issuer: &Issuer) -> JwtSettings {
    JwtSettings {
        issuer: issuer.url.clone(),
        audience: AUDIENCE.into(),
        role_claim: audit_api::jwt::DEFAULT_ROLE_CLAIM.into(),
        read_value: audit_api::jwt::DEFAULT_READ_VALUE.into(),
    }
}

pub async fn auth(samples: usize) -> anyhow::Result<()> {
    let issuer = Issuer::start().await;
    println!("{:<58} {:>9} {:>9} {:>9}", "µs per check", "median", "p90", "p99");

    // A service token among 10 configured ones (every hash is compared).
    let entries: Vec<String> = (0..10)
        .map(|i| format!("svc-{i}:read:{}", audit_api::hash_token(&format!("token-{i}"))))
        .collect();
    let tokens = audit_api::Tokens::fixed(audit_api::TokenSet::parse(&entries.join(","))?);
    row(
        "service token (SHA-256, 10 hashes compared)",
        micros(samples, async || tokens.current().await.find("token-7").is_some()).await?,
    );

    // The issuer signs with ES256 (P-256) and RS256 (a 2048-bit key made for this bench; what
    // most providers sign with): both keys in its JWKS.
    let rsa: serde_json::Value = serde_json::from_str(include_str!("../fixtures/rs256-bench-key.json"))?;
    issuer.serve_key(rsa["jwk"].clone());
    let rsa_token = issuer.token_signed(
        &jsonwebtoken::Header {
            kid: Some("rsa-1".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256)
        },
        &jsonwebtoken::EncodingKey::from_rsa_der(
            &base64::engine::general_purpose::STANDARD
                .decode(rsa["private_key_pkcs1_der_base64"].as_str().unwrap_or_default())?,
        ),
        &json!({}),
    );
    // A person's token, the issuer's keys cached after the first.
    let verifier = JwtVerifier::new(
        settings(&issuer),
        Box::new(audit_api::jwks::HttpJwks::new(&issuer.url, None)?),
    );
    let token = issuer.token(&json!({}));
    anyhow::ensure!(verifier.verify(&token).await.is_ok(), "the token is accepted");
    row(
        "person's JWT (ES256, keys cached)",
        micros(samples, async || verifier.verify(&token).await.is_ok()).await?,
    );
    anyhow::ensure!(verifier.verify(&rsa_token).await.is_ok(), "the RS256 token is accepted");
    row(
        "person's JWT (RS256, 2048-bit, keys cached)",
        micros(samples, async || verifier.verify(&rsa_token).await.is_ok()).await?,
    );
    let made_up = {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[0] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"made-up"}"#);
        parts.join(".")
    };
    row(
        "made-up kid within the refetch bound (refused, no fetch)",
        micros(samples, async || verifier.verify(&made_up).await.is_err()).await?,
    );

    // The first token after each key rotation: the JWKS fetched again (discovery done before).
    // The bound between fetches is 30 s in service; 0 here so every rotation is measured.
    let rotating = JwtVerifier::new(
        settings(&issuer),
        Box::new(audit_api::jwks::HttpJwks::new(&issuer.url, None)?),
    )
    .refetching_every(Duration::ZERO);
    anyhow::ensure!(rotating.verify(&token).await.is_ok());
    let rotations = samples.min(200);
    let mut first = Vec::with_capacity(rotations);
    for i in 0..rotations {
        issuer.rotate(10 + (i % 200) as u8, &format!("k-rotated-{i}"));
        let fresh = issuer.token(&json!({}));
        let started = Instant::now();
        anyhow::ensure!(rotating.verify(&fresh).await.is_ok(), "a rotated key is found");
        first.push(started.elapsed().as_secs_f64() * 1e6);
    }
    first.sort_by(f64::total_cmp);
    row(
        &format!(
            "first token after a key rotation (JWKS of up to {} keys)",
            rotations + 1
        ),
        (
            percentile(&first, 0.5),
            percentile(&first, 0.9),
            percentile(&first, 0.99),
        ),
    );

    // Whole requests over loopback HTTP (GET /catalog, the cheapest read), one token kind after
    // the other, in rounds.
    let issuer = Issuer::start().await;
    let options = integration_tests::Options {
        oidc: Some(audit_local::OidcConfig {
            settings: settings(&issuer),
            jwks_url: None,
            sign_in: None,
        }),
        ..integration_tests::Options::default()
    };
    let app = integration_tests::spawn_app_with(
        integration_tests::Place::new(integration_tests::Backend::Sqlite).await,
        options,
    )
    .await;
    let person = issuer.token(&json!({}));
    let (mut service_ms, mut person_ms) = (Vec::new(), Vec::new());
    for round in 0..(samples / 10).max(50) {
        for (bearer, into) in [
            (integration_tests::READ_TOKEN, &mut service_ms),
            (person.as_str(), &mut person_ms),
        ] {
            let started = Instant::now();
            let response = app.get("/catalog", Some(bearer)).await;
            let elapsed = started.elapsed().as_secs_f64() * 1e6;
            anyhow::ensure!(response.status() == 200, "GET /catalog: {}", response.status());
            response.bytes().await?;
            if round > 0 {
                into.push(elapsed);
            }
        }
    }
    app.stop().await;
    for (what, mut v) in [
        ("GET /catalog over HTTP, service token", service_ms),
        ("GET /catalog over HTTP, person's JWT", person_ms),
    ] {
        v.sort_by(f64::total_cmp);
        row(what, (percentile(&v, 0.5), percentile(&v, 0.9), percentile(&v, 0.99)));
    }
    Ok(())
}
