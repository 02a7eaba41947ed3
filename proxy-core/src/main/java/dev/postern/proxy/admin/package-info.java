/**
 * The admin server's endpoints: readiness, config dump, status and diagnostics.
 *
 * <p>Starting point: {@link dev.postern.proxy.admin.AdminHandler}.
 */
package dev.postern.proxy.admin;
