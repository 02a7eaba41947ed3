/**
 * Diagnostics: every finding names the file, line, resource, field and reason.
 *
 * <p>Starting points: {@link dev.postern.config.diag.Diagnostic}, {@link dev.postern.config.diag.Diagnostics}.
 */
package dev.postern.config.diag;
