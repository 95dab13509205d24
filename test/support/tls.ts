/**
 * A self-signed certificate for localhost and 127.0.0.1 (P-256, valid until 2126) and its key, for tests
 * that serve HTTPS. Made with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes
 * -days 36500 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1`; it secures nothing.
 */
export const TEST_TLS = {
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVc9YdljaUCdOl745
XOqnVjNqZdK6MIuyg7kS5ulFxhqhRANCAASEvb7W/0R0b/hTVgt1fDsE5QA0gDxU
hQGGDVarcUxFdgLuuxNZNDCJ4gI5JZOJjUYjEXMJf9uM/gmzGQlgjbpt
-----END PRIVATE KEY-----
`,
  cert: `-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUVpURno9+nUhGDTxAil+x4pZ9WHAwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNzA5MjMyN1oYDzIxMjYxMTEz
MDkyMzI3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASEvb7W/0R0b/hTVgt1fDsE5QA0gDxUhQGGDVarcUxFdgLuuxNZNDCJ
4gI5JZOJjUYjEXMJf9uM/gmzGQlgjbpto28wbTAdBgNVHQ4EFgQUoz55c2t4S/a9
XKv5nT5Z5X468rMwHwYDVR0jBBgwFoAUoz55c2t4S/a9XKv5nT5Z5X468rMwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSQAwRgIhANwO0n99bNrtqjp0u9rMNPmCo/Ib+dVcVR4oPvexEqaIAiEA
0Yy6N976ecsTySC3FYtj0knpdOTFxtLK/+/asbbWt5A=
-----END CERTIFICATE-----
`,
};
