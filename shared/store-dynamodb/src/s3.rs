//! Export files in S3: rows streamed into a multipart upload, handed out through presigned GET
//! links that download as a CSV attachment.
//!
//! Each part is spooled to a temporary file (the Lambda's `/tmp` on AWS) and uploaded streaming
//! from it, so memory stays flat whatever the export's size: no part is ever held in memory.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use chrono::Utc;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use audit_storage::{DownloadLink, ExportObjects, ExportUpload, StoreError};

/// Size of each uploaded part but the last (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// User metadata that marks an object with the upload that wrote it, so a completion whose
/// answer was lost can be told from someone else's object.
const UPLOAD_MARK: &str = "audit-upload";

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
        let mark = uuid::Uuid::new_v4().to_string();
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(audit_storage::ExportFormat::of_key(key).content_type())
            .metadata(UPLOAD_MARK, &mark)
            .send()
            .await
            .map_err(|e| crate::store_error(e, &format!("bucket {}", self.bucket)))?;
        let upload_id = created
            .upload_id
            .ok_or_else(|| StoreError::Corrupt("S3 gave no upload id".into()))?;
        let spool = tempfile::NamedTempFile::new().map_err(StoreError::unavailable)?;
        let file = tokio::fs::File::from_std(spool.reopen().map_err(StoreError::unavailable)?);
        Ok(Box::new(S3Upload {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            upload_id,
            mark,
            spool,
            file,
            spooled: 0,
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
            .response_content_type(audit_storage::ExportFormat::of_key(key).content_type())
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
    /// This upload's [`UPLOAD_MARK`].
    mark: String,
    /// The part being written (removed when the upload is dropped).
    spool: tempfile::NamedTempFile,
    file: tokio::fs::File,
    spooled: u64,
    parts: Vec<CompletedPart>,
    size: u64,
}

impl S3Upload {
    /// Whether the object under the key is the one this upload wrote (its mark and its size).
    async fn is_ours(&self) -> bool {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .send()
            .await
        {
            Ok(head) => {
                tracing::debug!(metadata = ?head.metadata(), length = ?head.content_length(), "the object under an export's key");
                let marked = head.metadata().and_then(|m| m.get(UPLOAD_MARK)) == Some(&self.mark);
                marked && head.content_length() == Some(self.size as i64)
            }
            Err(_) => false,
        }
    }

    /// Uploads the spooled part, streaming it from its file (retryable: a retry reads it again),
    /// then empties the spool for the next part.
    async fn upload_part(&mut self) -> Result<(), StoreError> {
        let number = self.parts.len() as i32 + 1;
        self.file.flush().await.map_err(StoreError::unavailable)?;
        let body = ByteStream::read_from()
            .path(self.spool.path())
            .length(Length::Exact(self.spooled))
            .build()
            .await
            .map_err(StoreError::unavailable)?;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .content_length(self.spooled as i64)
            .body(body)
            .customize()
            // Sign the headers, not the payload: signing it would read the whole part first.
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| crate::store_error(e, &format!("bucket {}", self.bucket)))?;
        self.size += self.spooled;
        self.spooled = 0;
        self.file.set_len(0).await.map_err(StoreError::unavailable)?;
        self.file
            .seek(std::io::SeekFrom::Start(0))
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
        self.file.write_all(&chunk).await.map_err(StoreError::unavailable)?;
        self.spooled += chunk.len() as u64;
        if self.spooled >= PART_SIZE as u64 {
            self.upload_part().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        if self.spooled > 0 || self.parts.is_empty() {
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
            // The completion may have landed with its answer lost (the SDK's retry then finds the
            // upload gone): the object is ours if it carries this upload's mark and size.
            if self.is_ours().await {
                tracing::warn!(key = %self.key, "an export's completion answer was lost; the object is the one uploaded");
                return Ok(self.size);
            }
            let size = self.size;
            let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
            self.abort().await;
            // Whatever is under the key now is not this export: nothing may be downloaded as it.
            if let Err(e) = client.delete_object().bucket(&bucket).key(&key).send().await {
                tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&e), %key, "could not remove a failed export's object");
            }
            tracing::warn!(size, "an export upload could not be completed");
            return Err(crate::store_error(e, &format!("bucket {bucket}")));
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
