/**
 * Config sources: a watched directory of YAML.
 *
 * <p>Starting point: {@link dev.postern.config.source.DirectoryWatcher}.
 */
package dev.postern.config.source;
