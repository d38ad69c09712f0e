//! A small HTTP client with Digest authentication, as NVRs and browsers do it.

use anyhow::Context;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};

/// The tests' client: it takes the camera's self-signed certificate (the tests that check
/// the certificate use curl and openssl with it as CA) and does not follow redirects, so
/// that plain HTTP's answers are seen as they are.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// A TLS connection to `127.0.0.1:port` that takes any certificate, for tests that write
/// HTTP by hand over HTTPS.
pub async fn tls_connect(
    port: u16,
) -> anyhow::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    Ok(
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await?,
    )
}

/// The SHA-256 fingerprint (`AB:CD:...`, as browsers show it) of the certificate HTTPS serves
/// on `127.0.0.1:port`.
pub async fn served_fingerprint(port: u16) -> anyhow::Result<String> {
    use sha2::Digest as _;
    let tls = tls_connect(port).await?;
    let (_, session) = tls.get_ref();
    let der = session
        .peer_certificates()
        .and_then(|c| c.first())
        .context("no certificate")?;
    Ok(sha2::Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// Takes any server certificate (the signatures are still checked).
#[derive(Debug)]
struct AnyCertificate(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// GET `url`; with credentials, answers a Digest challenge once. Returns (status, body).
pub async fn get(url: &str, creds: Option<(&str, &str)>) -> anyhow::Result<(u16, Vec<u8>)> {
    let client = client();
    let first = client.get(url).send().await?;
    let (Some((user, pass)), 401) = (creds, first.status().as_u16()) else {
        let status = first.status().as_u16();
        return Ok((status, first.bytes().await?.to_vec()));
    };
    let answer = digest_answer(&first, url, user, pass, digest_auth::HttpMethod::GET)?;
    let second = client.get(url).header(AUTHORIZATION, answer).send().await?;
    let status = second.status().as_u16();
    Ok((status, second.bytes().await?.to_vec()))
}

/// The `WWW-Authenticate` values of an unauthenticated GET.
pub async fn challenges(url: &str) -> anyhow::Result<(u16, Vec<String>)> {
    let r = client().get(url).send().await?;
    let values = r
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect();
    Ok((r.status().as_u16(), values))
}

/// POST `body` as SOAP; with credentials, answers a Digest challenge once.
/// Returns (status, body).
pub async fn post_soap(
    url: &str,
    body: &str,
    creds: Option<(&str, &str)>,
) -> anyhow::Result<(u16, String)> {
    post(url, "application/soap+xml; charset=utf-8", body, creds).await
}

/// POST `body` with `content_type`; with credentials, answers a Digest challenge once.
/// Returns (status, body).
pub async fn post(
    url: &str,
    content_type: &str,
    body: &str,
    creds: Option<(&str, &str)>,
) -> anyhow::Result<(u16, String)> {
    let r = request(reqwest::Method::POST, url, content_type, body, creds).await?;
    Ok((r.status().as_u16(), r.text().await?))
}

/// `method` on `url` with `body` as `content_type`; with credentials, answers a Digest
/// challenge once. Returns the whole response (its headers too).
pub async fn request(
    method: reqwest::Method,
    url: &str,
    content_type: &str,
    body: &str,
    creds: Option<(&str, &str)>,
) -> anyhow::Result<reqwest::Response> {
    let client = client();
    let send = |auth: Option<String>| {
        let mut req = client
            .request(method.clone(), url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_string());
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        req.send()
    };
    let first = send(None).await?;
    let (Some((user, pass)), 401) = (creds, first.status().as_u16()) else {
        return Ok(first);
    };
    let verb = digest_auth::HttpMethod::from(method.as_str().to_string());
    let answer = digest_answer(&first, url, user, pass, verb)?;
    Ok(send(Some(answer)).await?)
}

/// The `Authorization` value that answers the Digest challenge of `first` (a 401 for `url`).
pub fn digest_answer(
    first: &reqwest::Response,
    url: &str,
    user: &str,
    pass: &str,
    method: digest_auth::HttpMethod<'_>,
) -> anyhow::Result<String> {
    let challenge = first
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("Digest"))
        .context("401 without a Digest challenge")?;
    let parsed = reqwest::Url::parse(url)?;
    let uri = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let mut prompt = digest_auth::parse(challenge)?;
    let mut ctx = digest_auth::AuthContext::new(user, pass, &uri);
    ctx.method = method;
    Ok(prompt.respond(&ctx)?.to_header_string())
}

/// Sends `method` to `url` with an empty body; with credentials, answers a Digest challenge
/// once. Returns the status and headers and leaves the body unread (it may be an endless
/// event stream).
pub async fn status_of(
    method: &str,
    url: &str,
    creds: Option<(&str, &str)>,
) -> anyhow::Result<(u16, reqwest::header::HeaderMap)> {
    let client = client();
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let send = |auth: Option<String>| {
        let mut req = client.request(method.clone(), url);
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        req.send()
    };
    let first = send(None).await?;
    let (Some((user, pass)), 401) = (creds, first.status().as_u16()) else {
        return Ok((first.status().as_u16(), first.headers().clone()));
    };
    let verb = digest_auth::HttpMethod::from(method.as_str().to_string());
    let answer = digest_answer(&first, url, user, pass, verb)?;
    let second = send(Some(answer)).await?;
    Ok((second.status().as_u16(), second.headers().clone()))
}
