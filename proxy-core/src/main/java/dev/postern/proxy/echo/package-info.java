/**
 * An echo backend compatible with the upstream conformance suite's echo-basic, for the quickstart and the tests.
 *
 * <p>Starting point: {@link dev.postern.proxy.echo.EchoServer}.
 */
package dev.postern.proxy.echo;
