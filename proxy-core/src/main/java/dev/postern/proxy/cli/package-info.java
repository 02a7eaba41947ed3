/**
 * The {@code postern} command line.
 *
 * <p>Starting point: {@link dev.postern.proxy.cli.Main}.
 */
package dev.postern.proxy.cli;
