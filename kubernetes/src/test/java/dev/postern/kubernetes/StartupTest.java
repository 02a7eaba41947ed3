package dev.postern.kubernetes;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;
import dev.postern.proxy.server.ConfigSource;

import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeoutException;

import org.junit.jupiter.api.Test;

/** Startup against an API server that does not answer fails with a message that says what and why. */
class StartupTest {

    @Test
    void unreachableApiServerFailsStartupNamingTheKind() throws Exception {
        final int dead;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            dead = s.getLocalPort(); // closed again: connections are refused
        }
        final var client = new KubernetesClientBuilder().withConfig(new ConfigBuilder()
                .withMasterUrl("http://127.0.0.1:" + dead).withRequestRetryBackoffLimit(0).build()).build();
        final ConfigRef ref = new ConfigRef();
        final ConfigSource.Options o = new ConfigSource.Options(Map.of(),
                new ConfigPipeline.Settings(ConfigPipeline.Settings.DEFAULT_CONTROLLER, "127.0.0.1"), ref, b -> { });
        final KubernetesSource.Tuning t = KubernetesSource.Tuning.defaults("default", "r1");
        final KubernetesSource.Tuning quick = new KubernetesSource.Tuning(t.debounce(), t.leaseNamespace(),
                t.leaseName(), t.identity(), t.leaseDuration(), t.renewDeadline(), t.retryPeriod(),
                Duration.ofSeconds(2), null);
        final TimeoutException e = assertThrows(TimeoutException.class,
                () -> KubernetesSource.start(client, o, quick));
        assertTrue(e.getMessage().startsWith("no first list of gatewayclasses (gateway.networking.k8s.io/v1)"),
                e.getMessage());
        assertFalse(ref.isPublished(), "nothing is published from a cache that never synced");
    }
}
