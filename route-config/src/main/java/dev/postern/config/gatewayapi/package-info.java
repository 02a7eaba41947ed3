/**
 * Gateway API (and the core Kubernetes kinds Postern reads) as written: plain immutable records, named after the
 * spec's own types so they can be checked against it line by line.
 *
 * <p>Starting points: {@link dev.postern.config.gatewayapi.ConfigInput},
 * {@link dev.postern.config.gatewayapi.HTTPRoute}, {@link dev.postern.config.gatewayapi.Gateway}.
 */
package dev.postern.config.gatewayapi;
