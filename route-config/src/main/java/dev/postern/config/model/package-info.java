/**
 * The translated model: listeners that were accepted, each with the route matches attached to it, with
 * provenance names and resolved backends. Built by {@link dev.postern.config.translate.GatewayTranslator}; compiled
 * to runtime tables by {@link dev.postern.config.translate.RouteTableCompiler}.
 *
 * <p>Leaf value types of actions (clusters, endpoints, header mutations) are shared with the runtime package,
 * since they need no compilation.
 */
package dev.postern.config.model;
