use crate::harness::{READ_TOKEN, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn health_is_public_and_every_response_has_a_request_id() {
    let app = spawn_app().await;
    let response = app.get("/health", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers()["x-request-id"].is_empty());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let denied = app.get("/events", None).await;
    assert!(!denied.headers()["x-request-id"].is_empty());
    let given = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn a_request_id_that_could_forge_log_lines_is_replaced() {
    let app = spawn_app().await;
    let long = "a".repeat(129);
    for forged in [
        "x\" level=error msg=\"admin logged in",
        "tab\tseparated",
        "ünïcode",
        long.as_str(),
    ] {
        let response = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", forged)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, forged);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "a new id: {id}");
    }
    let kept = "1-67891233-abcdef012345678912345678:span.7_x";
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", kept)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], kept);
}

#[tokio::test]
async fn the_catalog_lists_the_59_product_types_and_the_audit_types_with_labels_params_and_outcomes() {
    let app = spawn_app().await;
    let body: Value = app.get("/catalog", Some(READ_TOKEN)).await.json().await.unwrap();
    assert_eq!(body["types"], 63);
    let categories = body["categories"].as_array().unwrap();
    let listed: usize = categories.iter().map(|c| c["types"].as_array().unwrap().len()).sum();
    assert_eq!(listed, 63);
    let audit = categories.iter().find(|c| c["code"] == "audit").unwrap();
    assert_eq!(audit["types"][0]["type"], "audit.export_requested");
    let sca = categories.iter().find(|c| c["code"] == "sca").unwrap();
    assert_eq!(sca["label"], "SCA Analysis Execution");
    let finished = sca["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "sca.analysis_finished")
        .unwrap();
    assert_eq!(
        finished["template"],
        "[SCA][{project}][{sequence}/{run_id}] Analysis finished"
    );
    assert_eq!(finished["params"][1]["name"], "sequence");
    assert_eq!(finished["params"][1]["kind"], "integer");
    // Each type's outcome: the admin UI marks failures.
    let outcome = |code: &str| {
        let mut types = categories.iter().flat_map(|c| c["types"].as_array().unwrap());
        types.find(|t| t["type"] == code).unwrap()["outcome"].clone()
    };
    assert_eq!(finished["outcome"], "success");
    assert_eq!(outcome("auth.login_failed"), "failure");
    assert_eq!(outcome("license.key_problem"), "failure");
    assert_eq!(outcome("object.created"), "info");
    assert!(
        categories
            .iter()
            .flat_map(|c| c["types"].as_array().unwrap())
            .all(|t| ["success", "failure", "info"].contains(&t["outcome"].as_str().unwrap()))
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let documented: std::collections::BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, methods)| {
            let methods = methods.as_object().unwrap().keys();
            methods.map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let routes: std::collections::BTreeSet<String> = audit_api::ROUTES.iter().map(|r| r.key()).collect();
    assert_eq!(documented, routes, "the OpenAPI document's paths are the route table");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problem_json() {
    let app = spawn_app().await;
    let missing = app.get("/nope", Some(READ_TOKEN)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    let wrong = app
        .client
        .delete(app.url("/events"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn the_admin_ui_is_served_at_the_root_with_a_strict_policy() {
    let app = spawn_app().await;
    let page = app.get("/", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        policy.starts_with("default-src 'none'") && policy.contains("connect-src 'self'"),
        "{policy}"
    );
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    for asset in ["app.js", "app.css", "config.js"] {
        assert!(html.contains(&format!("\"{asset}\"")), "the page loads {asset}");
        let response = app.get(&format!("/{asset}"), None).await;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    // Nothing from another origin: no absolute URL in the page or its assets.
    for asset in ["/", "/app.js", "/app.css"] {
        let text = app.get(asset, None).await.text().await.unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{asset} refers to another origin"
        );
    }
}
