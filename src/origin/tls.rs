//! TLS for `https://` health checks: `tokio-rustls` over `rustls` with the
//! `ring` crypto provider.
//!
//! Why these: rustls is the maintained pure-Rust TLS stack (no OpenSSL to
//! match at run time on the NVA image); `ring` instead of the default
//! `aws-lc-rs` needs no cmake/NASM and is smaller. Trust: Mozilla's roots
//! built in (`webpki-roots`, so the result does not depend on the VM
//! image), plus the check's `ca_file` (PEM) for a private CA, the usual
//! case for backends inside a VNet; `tls_verify = false` accepts any
//! certificate (self-signed backends) while still completing a real
//! handshake. Cost: 1.4 MB of stripped release binary (5.3 MB against
//! 3.9 MB, see BENCHMARKS.md, "Origination"); build with
//! `--no-default-features` to
//! leave HTTPS out.

use tokio::net::TcpStream;

use super::config::HttpProbe;

/// The TLS side of one check: prepared once, used for every probe.
pub struct Tls {
    #[cfg(feature = "https")]
    connector: Option<Result<tokio_rustls::TlsConnector, String>>,
}

#[cfg(feature = "https")]
type Stream = tokio_rustls::client::TlsStream<TcpStream>;
#[cfg(not(feature = "https"))]
type Stream = TcpStream;

impl Tls {
    /// Nothing to prepare (TCP, HTTP and exec checks).
    pub fn none() -> Self {
        Self {
            #[cfg(feature = "https")]
            connector: None,
        }
    }

    /// Prepares the client configuration of an HTTP(S) check; a problem
    /// (unreadable `ca_file`) makes every probe of it fail with the reason.
    pub fn for_probe(probe: &HttpProbe) -> Self {
        #[cfg(feature = "https")]
        {
            Self {
                connector: probe.tls.then(|| imp::connector(probe)),
            }
        }
        #[cfg(not(feature = "https"))]
        {
            let _ = probe;
            Self {}
        }
    }

    /// Runs the TLS handshake over `stream`.
    pub async fn connect(&self, probe: &HttpProbe, stream: TcpStream) -> Result<Stream, String> {
        #[cfg(feature = "https")]
        {
            let connector = match &self.connector {
                Some(Ok(c)) => c,
                Some(Err(e)) => return Err(e.clone()),
                None => return Err("TLS was not prepared for this check".into()),
            };
            let name = rustls::pki_types::ServerName::try_from(probe.server_name.clone())
                .map_err(|e| format!("TLS server name {:?}: {e}", probe.server_name))?;
            connector
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))
        }
        #[cfg(not(feature = "https"))]
        {
            let _ = (probe, stream);
            Err("this nvabgp was built without HTTPS support".into())
        }
    }
}

#[cfg(feature = "https")]
mod imp {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::WebPkiSupportedAlgorithms;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

    use super::super::config::HttpProbe;

    pub(super) fn connector(probe: &HttpProbe) -> Result<tokio_rustls::TlsConnector, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let config = if probe.tls_verify {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(path) = &probe.ca_file {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                let mut added = 0;
                for cert in certs {
                    let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                    added += 1;
                }
                if added == 0 {
                    return Err(format!(
                        "ca_file {}: no PEM certificate in it",
                        path.display()
                    ));
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth()
        };
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    /// `tls_verify = false`: any certificate is accepted, but the
    /// handshake signatures are still checked, so the server does hold the
    /// key of the certificate it sent.
    #[derive(Debug)]
    struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_schemes()
        }
    }
}
