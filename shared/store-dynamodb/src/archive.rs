//! The archive bucket: archive files and digests as S3 objects, written once. The bucket has
//! Object Lock in compliance mode (the template's), so no object version can be changed or
//! deleted before its retention ends, by anyone; each write also asks S3 not to put a new
//! version over an existing key (`If-None-Match: *`), so a key always names the bytes first
//! written there.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

/// The archive bucket, as the integrity checks read it.
#[derive(Clone)]
pub struct S3Archive {
    client: Client,
    bucket: String,
}

impl S3Archive {
    pub fn new(client: Client, bucket: impl Into<String>) -> S3Archive {
        S3Archive {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

fn io_error(what: String, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what}: {e}"))
}

#[async_trait]
impl audit_integrity::Archive for S3Archive {
    async fn list(&self, prefix: &str) -> std::io::Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                io_error(
                    format!("listing {prefix} in bucket {}", self.bucket),
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        keys.sort();
        Ok(keys)
    }

    async fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        let object = match self.client.get_object().bucket(&self.bucket).key(path).send().await {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(io_error(
                    format!("reading {path} from bucket {}", self.bucket),
                    aws_sdk_s3::error::DisplayErrorContext(e),
                ));
            }
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| io_error(format!("reading {path} from bucket {}", self.bucket), e))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn write_new(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        let content_type = if path.ends_with(".gz") {
            "application/gzip"
        } else {
            "application/json"
        };
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(path)
            .if_none_match("*")
            .content_type(content_type)
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                // Something is there already: the same bytes (a repeated write) are accepted.
                match self.read(path).await? {
                    Some(existing) if existing == bytes => Ok(()),
                    _ => Err(std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        format!("{path} in bucket {} already holds other bytes", self.bucket),
                    )),
                }
            }
            Err(e) => Err(io_error(
                format!("writing {path} to bucket {}", self.bucket),
                aws_sdk_s3::error::DisplayErrorContext(e),
            )),
        }
    }
}
