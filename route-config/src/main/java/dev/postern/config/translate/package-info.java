/**
 * Translation (Gateway API records to the listener/route model, with status) and compilation (model to runtime
 * tables).
 *
 * <p>Starting points: {@link dev.postern.config.translate.GatewayTranslator},
 * {@link dev.postern.config.translate.RouteTableCompiler}.
 */
package dev.postern.config.translate;
