//! The OpenAPI 3.1 document served at `/openapi.json`, kept as a JSON file beside the code.

pub(crate) const DOCUMENT: &str = include_str!("openapi.json");
