/**
 * Layer 4: TLS passthrough by SNI and the byte relay under it.
 *
 * <p>Starting points: {@link dev.postern.proxy.l4.TlsPassthroughHandler}, {@link dev.postern.proxy.l4.TcpRelayHandler}.
 */
package dev.postern.proxy.l4;
