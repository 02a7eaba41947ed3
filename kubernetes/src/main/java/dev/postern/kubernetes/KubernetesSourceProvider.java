package dev.postern.kubernetes;

import dev.postern.proxy.server.ConfigSource;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.UUID;

/**
 * {@code ./postern run --kubernetes [--kubeconfig FILE]}: the client from FILE, else fabric8's auto-configuration
 * (in-cluster service account, then {@code $KUBECONFIG}, then {@code ~/.kube/config}). The Lease lives in
 * {@code $POD_NAMESPACE} (the Downward API), else the client's namespace; the holder identity is {@code $POD_NAME},
 * else the host name with a random suffix. {@code $POSTERN_ADDRESS_SERVICE} ({@code namespace/name}) names the
 * LoadBalancer Service whose addresses Gateways without {@code spec.addresses} report.
 */
public final class KubernetesSourceProvider implements ConfigSource.Provider {

    /** For ServiceLoader. */
    public KubernetesSourceProvider() {
    }

    @Override
    public String name() {
        return "kubernetes";
    }

    @Override
    public ConfigSource start(ConfigSource.Options options) throws Exception {
        final String kubeconfig = options.flags().get("kubeconfig");
        final Config config;
        if (kubeconfig != null) {
            final Path p = Path.of(kubeconfig);
            if (!Files.isReadable(p)) {
                throw new IllegalArgumentException("--kubeconfig " + kubeconfig + ": not a readable file");
            }
            config = Config.fromKubeconfig(p.toFile());
        } else {
            config = Config.autoConfigure(null);
        }
        final KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build();
        final String ns = firstNonBlank(System.getenv("POD_NAMESPACE"), client.getNamespace(), "default");
        final String id = firstNonBlank(System.getenv("POD_NAME"),
                InetAddress.getLocalHost().getHostName() + "-" + UUID.randomUUID().toString().substring(0, 8));
        try {
            return KubernetesSource.start(client, options, KubernetesSource.Tuning.defaults(ns, id)
                    .withAddressService(System.getenv("POSTERN_ADDRESS_SERVICE")));
        } catch (Exception e) {
            client.close();
            throw e;
        }
    }

    private static String firstNonBlank(String... xs) {
        for (String x : xs) {
            if (x != null && !x.isBlank()) {
                return x;
            }
        }
        return Objects.requireNonNull(xs[xs.length - 1]);
    }
}
