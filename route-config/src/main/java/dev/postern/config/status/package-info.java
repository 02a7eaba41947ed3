/**
 * Computed Gateway API status: conditions per resource, listener and route parent.
 *
 * <p>Starting points: {@link dev.postern.config.status.ResourceStatus}, {@link dev.postern.config.status.Condition}.
 */
package dev.postern.config.status;
