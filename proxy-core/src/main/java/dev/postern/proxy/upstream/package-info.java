/**
 * Upstream connections: per-event-loop pools keyed by everything that makes a connection interchangeable.
 *
 * <p>Starting point: {@link dev.postern.proxy.upstream.UpstreamPool}.
 */
package dev.postern.proxy.upstream;
