/**
 * TLS material from Kubernetes Secrets and ConfigMaps, parsed with the JDK only, and the TLS settings the runtime
 * tables carry: certificates by SNI, client certificate validation per port, backend TLS per BackendTLSPolicy.
 *
 * <p>Starting points: {@link dev.postern.config.tls.Pem}, {@link dev.postern.config.tls.CertificateKeyPair},
 * {@link dev.postern.config.tls.ClientValidation}, {@link dev.postern.config.tls.UpstreamTls}.
 */
package dev.postern.config.tls;
