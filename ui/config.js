// Where the audit-log API is. Empty means this page's own origin: the local server serves the
// page and the API together. For the page deployed as static files against AWS, set it to the
// stack's `ApiUrl` output (and the stack's `CorsOrigin` parameter to this page's origin).
//
// People sign in with the organisation's OpenID provider when `oidc` is set (the local server
// writes it from AUDIT_OIDC_ISSUER and AUDIT_OIDC_CLIENT_ID): the issuer, the page's public client
// id there (Authorization Code with PKCE, this page's address as its redirect URI), the scopes,
// and extra authorization parameters some providers want (e.g. { audience: "…" } for Auth0):
//   oidc: { issuer: "https://id.example.com", clientId: "…", scopes: "openid profile email", params: {} }
window.AUDIT_CONFIG = { apiUrl: "" };
