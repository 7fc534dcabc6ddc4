//! Export files in S3: rows streamed into a multipart upload (memory stays at one part), handed
//! out through presigned GET links that download as a CSV attachment.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use chrono::Utc;

use audit_storage::{DownloadLink, ExportObjects, ExportUpload, StoreError};

/// Size of each uploaded part but the last (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// The exports bucket.
#[derive(Clone)]
pub struct S3Exports {
    client: Client,
    bucket: String,
    link_ttl: chrono::Duration,
}

impl S3Exports {
    /// `link_ttl`: how long a presigned link works (15 minutes by default in the servers).
    pub fn new(client: Client, bucket: impl Into<String>, link_ttl: chrono::Duration) -> Self {
        S3Exports {
            client,
            bucket: bucket.into(),
            link_ttl,
        }
    }
}

#[async_trait]
impl ExportObjects for S3Exports {
    async fn start(&self, key: &str) -> Result<Box<dyn ExportUpload>, StoreError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("text/csv; charset=utf-8")
            .send()
            .await
            .map_err(StoreError::unavailable)?;
        let upload_id = created
            .upload_id
            .ok_or_else(|| StoreError::Corrupt("S3 gave no upload id".into()))?;
        Ok(Box::new(S3Upload {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            upload_id,
            buf: Vec::with_capacity(PART_SIZE),
            parts: Vec::new(),
            size: 0,
        }))
    }

    async fn download_link(&self, key: &str, file_name: &str) -> Result<DownloadLink, StoreError> {
        let ttl = self.link_ttl.to_std().map_err(StoreError::unavailable)?;
        let config = PresigningConfig::expires_in(ttl).map_err(StoreError::unavailable)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_type("text/csv; charset=utf-8")
            .response_content_disposition(format!("attachment; filename=\"{file_name}\""))
            .presigned(config)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(DownloadLink {
            url: request.uri().to_owned(),
            expires_at: Utc::now() + self.link_ttl,
        })
    }
}

struct S3Upload {
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    buf: Vec<u8>,
    parts: Vec<CompletedPart>,
    size: u64,
}

impl S3Upload {
    async fn upload_part(&mut self) -> Result<(), StoreError> {
        let number = self.parts.len() as i32 + 1;
        let body = std::mem::replace(&mut self.buf, Vec::with_capacity(PART_SIZE));
        self.size += body.len() as u64;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(StoreError::unavailable)?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .build(),
        );
        Ok(())
    }
}

#[async_trait]
impl ExportUpload for S3Upload {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), StoreError> {
        self.buf.extend_from_slice(&chunk);
        if self.buf.len() >= PART_SIZE {
            self.upload_part().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        if !self.buf.is_empty() || self.parts.is_empty() {
            self.upload_part().await?;
        }
        let parts = CompletedMultipartUpload::builder()
            .set_parts(Some(std::mem::take(&mut self.parts)))
            .build();
        let completed = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(parts)
            .send()
            .await;
        if let Err(e) = completed {
            let size = self.size;
            self.abort().await;
            tracing::warn!(size, "an export upload could not be completed");
            return Err(StoreError::unavailable(e));
        }
        Ok(self.size)
    }

    async fn abort(self: Box<Self>) {
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await;
        if let Err(e) = aborted {
            // The bucket's lifecycle rule removes abandoned uploads; nothing else to do.
            tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&e), key = %self.key, "could not abort an export upload");
        }
    }
}
