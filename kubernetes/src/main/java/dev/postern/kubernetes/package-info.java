/**
 * Kubernetes mode: fabric8 informers on the Gateway API and core kinds feed route-config's pipeline (the same
 * records as the YAML source), the result is published into the same {@code ConfigRef}, and one replica, elected
 * on a Lease, writes the computed status to the status subresources. route-config never sees the client library.
 *
 * <p>Starting points: {@link dev.postern.kubernetes.KubernetesSource},
 * {@link dev.postern.kubernetes.KubernetesSourceProvider}, {@code StatusWriter}, {@code InputConverter}.
 */
package dev.postern.kubernetes;
