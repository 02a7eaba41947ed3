/**
 * The running server: bootstrap settings, transports, listeners bound from the published table, config loading.
 *
 * <p>Starting points: {@link dev.postern.proxy.server.PosternServer}, {@link dev.postern.proxy.server.Bootstrap},
 * {@link dev.postern.proxy.server.ConfigLoader}.
 */
package dev.postern.proxy.server;
