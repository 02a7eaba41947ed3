/**
 * TLS material from Kubernetes Secrets, parsed with the JDK only.
 *
 * <p>Starting points: {@link dev.postern.config.tls.Pem}, {@link dev.postern.config.tls.CertificateKeyPair}.
 */
package dev.postern.config.tls;
