/**
 * The config pipeline: Gateway API objects in, immutable route tables and statuses out.
 *
 * <p>Starting points: {@link dev.postern.config.ConfigPipeline} (read → translate → compile),
 * {@link dev.postern.config.ConfigRef} (publish), {@link dev.postern.config.source.DirectoryWatcher} (hot reload).
 */
package dev.postern.config;
