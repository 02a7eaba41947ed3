/**
 * TLS termination: server contexts per certificate, on BoringSSL.
 *
 * <p>Starting point: {@link dev.postern.proxy.tls.ServerTls}.
 */
package dev.postern.proxy.tls;
