/**
 * The compiled runtime tables the data plane reads: immutable, built once, looked up without parsing or locks.
 * Nothing here imports Gateway API input types.
 *
 * <p>Starting points: {@link dev.postern.config.runtime.RouteTable}, {@link dev.postern.config.runtime.PortTable},
 * {@link dev.postern.config.runtime.HostIndex}, {@link dev.postern.config.runtime.RouteEntry}.
 */
package dev.postern.config.runtime;
