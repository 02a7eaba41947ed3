/**
 * Observability: Prometheus metrics and the access log, recorded without locks on the request path.
 *
 * <p>Starting points: {@link dev.postern.proxy.observe.Metrics}, {@link dev.postern.proxy.observe.AccessLog}.
 */
package dev.postern.proxy.observe;
