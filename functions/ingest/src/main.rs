//! The ingest function: `POST /events` behind API Gateway, over DynamoDB. Settings are read and the SDK
//! client built once per execution environment, not per request.

use audit_api::Surface;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    audit_lambda::init_logs();
    let sdk = audit_store_dynamodb::sdk_config().await;
    let config = audit_lambda::Config::load_without_cursors(&sdk).await?;
    let store = config.store(&sdk);
    let state = config.state(store, None);
    let router = audit_lambda::signed_callers(audit_api::router_of(Surface::Ingest, state));
    lambda_http::run(router).await
}
