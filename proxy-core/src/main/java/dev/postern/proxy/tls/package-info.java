/**
 * TLS on BoringSSL: server contexts per certificate and client validation (with session tickets whose keys rotate
 * on a schedule), client contexts for backends per BackendTLSPolicy setting, and the trust managers both use
 * (PKIX over a CA bundle, subject alt name checks, the AllowInsecureFallback mode).
 *
 * <p>Starting points: {@link dev.postern.proxy.tls.ServerTls}, {@link dev.postern.proxy.tls.ClientTls}.
 */
package dev.postern.proxy.tls;
