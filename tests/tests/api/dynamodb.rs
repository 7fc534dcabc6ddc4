//! What only the DynamoDB and S3 path has.
