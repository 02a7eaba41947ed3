/**
 * The HTTP request path: the terminal HTTP/1.1 handler, the client-address policy, request heads, errors as
 * values and local replies.
 *
 * <p>Starting points: {@link dev.postern.proxy.http.Http1ProxyHandler},
 * {@link dev.postern.proxy.http.ForwardedHeaderPolicy}, {@link dev.postern.proxy.http.ProxyError}.
 */
package dev.postern.proxy.http;
