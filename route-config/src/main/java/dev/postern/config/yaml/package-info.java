/**
 * Reading Kubernetes manifests with SnakeYAML's safe composer, reporting every problem as a diagnostic.
 *
 * <p>Starting point: {@link dev.postern.config.yaml.YamlReader}.
 */
package dev.postern.config.yaml;
