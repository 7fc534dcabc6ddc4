//! What a token may do. Its own module, so that both the authentication and the error
//! conversion (a `403` names the role needed) use it without depending on each other.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May POST events.
    Ingest,
    /// May read events and export them.
    Read,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
        })
    }
}
