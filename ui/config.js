// Where the audit-log API is. Empty means this page's own origin: the local server serves the
// page and the API together. For the page deployed as static files against AWS, set it to the
// stack's `ApiUrl` output (and the stack's `CorsOrigin` parameter to this page's origin).
window.AUDIT_CONFIG = { apiUrl: "" };
