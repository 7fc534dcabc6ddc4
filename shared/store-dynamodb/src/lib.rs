//! The cloud store: events and export jobs in DynamoDB, export files in S3 (SPEC §4).
//!
//! - [`schema`]: every table, index and attribute name, and how events are placed.
//! - [`DynamoStore`]: [`audit_storage::EventStore`] and [`audit_storage::ExportJobStore`] over the
//!   events and export-jobs tables.
//! - `S3Exports` (feature `s3`): [`audit_storage::ExportObjects`] over a bucket, with presigned
//!   links.
//! - [`init`]: creates the tables and the bucket (for `audit-local init` and the tests).
//! - [`sdk_config`]: the SDK settings both functions and the local server use.
//! - [`CloudSettings`]: how a deployment's stores are reached, and the one place that builds
//!   them (the Lambda functions, the local server, the tests and the benchmarks). The library
//!   reads no setting of its own from the environment: its callers fill `CloudSettings`.

#[cfg(feature = "archive")]
mod archive;
mod events;
pub mod init;
#[cfg(feature = "archive")]
pub mod integrity;
mod item;
mod jobs;
pub mod metrics;
mod position;
#[cfg(feature = "s3")]
mod s3;
pub mod schema;

use std::time::Duration;

pub use aws_config::SdkConfig;
pub use events::{DynamoStore, READ_BUDGET, ReadStats};
#[cfg(feature = "s3")]
pub use s3::{PART_SIZE, S3Exports};
pub use schema::Layout;

/// Whether an SDK error is a refused condition.
pub(crate) fn condition_failed<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .is_some_and(|s| s.code() == Some("ConditionalCheckFailedException"))
}

/// The outcome of a conditional write: `Ok(true)` written, `Ok(false)` its condition did not hold.
pub(crate) fn conditional<T, E>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
    resource: &str,
) -> Result<bool, audit_storage::StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if condition_failed(&e) => Ok(false),
        Err(e) => Err(crate::store_error(e, resource)),
    }
}

/// The one conversion of an SDK failure into a [`audit_storage::StoreError`], as Teleport's
/// `convertError` does for its DynamoDB backend (conditional-check failures are read by the
/// callers before this):
/// - throttling, 5xx, timeouts and dropped connections (after the SDK's own retries) are `Busy`
///   (503 with `Retry-After` at the API);
/// - a missing table or bucket, access denied, bad credentials or a request the service rejects
///   as invalid are `Misconfigured`, naming `resource` (`table audit-events`);
/// - anything else is `Unavailable`.
pub(crate) fn store_error<E>(
    e: aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    resource: &str,
) -> audit_storage::StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    /// Error codes DynamoDB and S3 use for "slow down".
    const BUSY_CODES: [&str; 7] = [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalServerError",
        "InternalError",
    ];
    /// Error codes DynamoDB and S3 use for a resource that is not there or not ours to use.
    const MISCONFIGURED_CODES: [&str; 11] = [
        "ResourceNotFoundException",
        "AccessDeniedException",
        "ValidationException",
        "UnrecognizedClientException",
        "MissingAuthenticationTokenException",
        "InvalidSignatureException",
        "NoSuchBucket",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AllAccessDisabled",
    ];
    let (busy, misconfigured) = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => (true, false),
        SdkError::ServiceError(service) => {
            let code = service.err().code();
            let status = service.raw().status();
            (
                code.is_some_and(|code| BUSY_CODES.contains(&code)) || status.is_server_error(),
                code.is_some_and(|code| MISCONFIGURED_CODES.contains(&code)) || status.as_u16() == 403,
            )
        }
        _ => (false, false),
    };
    if busy {
        audit_storage::StoreError::busy(e)
    } else if misconfigured {
        audit_storage::StoreError::Misconfigured {
            resource: resource.to_owned(),
            cause: Box::new(e),
        }
    } else {
        audit_storage::StoreError::unavailable(e)
    }
}

/// A storage failure described in words (for failures that are not an SDK error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Message(pub String);

/// The SDK settings of the service, from the standard environment (`AWS_REGION`, credentials,
/// `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`): retries with exponential backoff and
/// jitter on throttling and 5xx (8 attempts), and a 10 s limit on each attempt.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(8)
                .with_initial_backoff(Duration::from_millis(50)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .load()
        .await
}

/// The SDK's own hyper + rustls client, with ring as rustls's crypto instead of the SDK's default
/// aws-lc-rs: the same TLS 1.2/1.3 for talking to AWS, about 1 MB less in every Lambda binary.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// A DynamoDB client.
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// A DynamoDB client at `endpoint` instead of the configured one (a test's fault proxy).
pub fn dynamodb_client_at(config: &aws_config::SdkConfig, endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config)
            .endpoint_url(endpoint)
            .build(),
    )
}

#[cfg(feature = "s3")]
/// An S3 client at `endpoint` (path-style, as the emulators need) instead of the configured one.
pub fn s3_client_at(config: &aws_config::SdkConfig, endpoint: &str) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

#[cfg(feature = "s3")]
/// An S3 client; path-style addressing when an endpoint is configured (the emulators need it).
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// How one deployment's cloud stores are reached: where its data is and how events are laid out,
/// the events' retention, and endpoints used instead of the SDK's configured ones (the tests put
/// a fault proxy there).
#[derive(Debug, Clone)]
pub struct CloudSettings {
    pub layout: Layout,
    /// Days after which DynamoDB's TTL removes an event; kept forever when `None`.
    pub retention_days: Option<u32>,
    pub dynamodb_endpoint: Option<String>,
    pub s3_endpoint: Option<String>,
}

/// Where a setting comes from: a name's value, if it has one (the environment in the Lambda
/// functions; a flag, else the environment, in the local server).
pub type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

impl CloudSettings {
    /// The settings named `AUDIT_EVENTS_TABLE`, `AUDIT_JOBS_TABLE`, `AUDIT_EXPORT_BUCKET`,
    /// `AUDIT_TIME_SHARDS`, `AUDIT_ACTOR_SHARDS` and `AUDIT_RETENTION_DAYS`, read through `vars` (this library reads
    /// no environment of its own): the one reading of them. With `defaults` (the local server's
    /// names), a name without a value takes the default's; without (the Lambda functions, which
    /// the template configures), the tables must be named and the bucket may be empty. An error
    /// names the setting.
    pub fn from_vars(vars: Vars<'_>, defaults: Option<&Layout>) -> anyhow::Result<CloudSettings> {
        use anyhow::Context;
        let value = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
        let named = |name: &str, default: Option<&String>| {
            value(name)
                .or_else(|| default.cloned())
                .with_context(|| format!("{name} is not set"))
        };
        let number = |name: &str| -> anyhow::Result<Option<u32>> {
            value(name)
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| anyhow::anyhow!("{name} is not a valid number: {v}"))
                })
                .transpose()
        };
        let time_shards = number("AUDIT_TIME_SHARDS")?.unwrap_or(schema::DEFAULT_TIME_SHARDS);
        if !(1..=schema::MAX_TIME_SHARDS).contains(&time_shards) {
            anyhow::bail!("AUDIT_TIME_SHARDS must be from 1 to {}", schema::MAX_TIME_SHARDS);
        }
        let actor_shards = number("AUDIT_ACTOR_SHARDS")?.unwrap_or(schema::DEFAULT_ACTOR_SHARDS);
        if !(1..=schema::MAX_ACTOR_SHARDS).contains(&actor_shards) {
            anyhow::bail!("AUDIT_ACTOR_SHARDS must be from 1 to {}", schema::MAX_ACTOR_SHARDS);
        }
        Ok(CloudSettings {
            retention_days: number("AUDIT_RETENTION_DAYS")?,
            ..CloudSettings::new(Layout {
                events_table: named("AUDIT_EVENTS_TABLE", defaults.map(|d| &d.events_table))?,
                jobs_table: named("AUDIT_JOBS_TABLE", defaults.map(|d| &d.jobs_table))?,
                bucket: value("AUDIT_EXPORT_BUCKET")
                    .or_else(|| defaults.map(|d| d.bucket.clone()))
                    .unwrap_or_default(),
                time_shards,
                actor_shards,
            })
        })
    }

    pub fn new(layout: Layout) -> Self {
        CloudSettings {
            layout,
            retention_days: None,
            dynamodb_endpoint: None,
            s3_endpoint: None,
        }
    }

    /// The events and export-jobs store.
    pub fn events_store(&self, sdk: &SdkConfig) -> DynamoStore {
        let client = match &self.dynamodb_endpoint {
            Some(endpoint) => dynamodb_client_at(sdk, endpoint),
            None => dynamodb_client(sdk),
        };
        DynamoStore::new(client, self.layout.clone(), self.retention_days)
    }

    /// Export objects in the bucket, downloaded through presigned links that work for `link_ttl`.
    #[cfg(feature = "s3")]
    pub fn export_objects(&self, sdk: &SdkConfig, link_ttl: chrono::Duration) -> S3Exports {
        let client = match &self.s3_endpoint {
            Some(endpoint) => s3_client_at(sdk, endpoint),
            None => s3_client(sdk),
        };
        S3Exports::new(client, self.layout.bucket.clone(), link_ttl)
    }

    /// The integrity archive in `bucket` (same S3 settings as the exports).
    #[cfg(feature = "archive")]
    pub fn archive(&self, sdk: &SdkConfig, bucket: &str) -> integrity::S3Archive {
        let client = match &self.s3_endpoint {
            Some(endpoint) => s3_client_at(sdk, endpoint),
            None => s3_client(sdk),
        };
        integrity::S3Archive::new(client, bucket)
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn the_local_defaults_fill_what_is_not_set_and_a_set_value_wins() {
        let vars = |name: &str| (name == "AUDIT_JOBS_TABLE").then(|| "my-jobs".to_owned());
        let s = CloudSettings::from_vars(&vars, Some(&Layout::local_defaults())).unwrap();
        assert_eq!(s.layout.events_table, "audit-events");
        assert_eq!(s.layout.jobs_table, "my-jobs");
        assert_eq!(s.layout.bucket, "audit-exports");
        assert_eq!(s.layout.time_shards, schema::DEFAULT_TIME_SHARDS);
        let none = |_: &str| None;
        let err = CloudSettings::from_vars(&none, None).unwrap_err().to_string();
        assert!(
            err.contains("AUDIT_EVENTS_TABLE"),
            "without defaults the tables are required: {err}"
        );
        let shards = |name: &str| (name == "AUDIT_TIME_SHARDS").then(|| "65".to_owned());
        let err = CloudSettings::from_vars(&shards, Some(&Layout::local_defaults())).unwrap_err();
        assert!(err.to_string().contains("AUDIT_TIME_SHARDS"), "{err}");
    }
}
