package dev.postern.conformance;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The upstream Gateway API conformance suite's manifests (v1.6.1), read unmodified from
 * {@code ../shared/gateway-api-conformance} and given their placeholders the way the suite's applier does.
 */
public final class SuiteManifests {
    /** The GatewayClass name the suite is run with. */
    public static final String GATEWAY_CLASS = "gateway-conformance";
    /** Postern's controllerName. */
    public static final String CONTROLLER = "postern.dev/gateway-controller";

    private final Path root;

    private SuiteManifests(Path root) {
        this.root = root;
    }

    /** Finds {@code shared/gateway-api-conformance} in the working directory or any parent. */
    public static SuiteManifests locate() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null) {
            final Path c = p.resolve("shared").resolve("gateway-api-conformance");
            if (Files.isDirectory(c.resolve("tests"))) {
                return new SuiteManifests(c);
            }
            p = p.getParent();
        }
        throw new IllegalStateException("shared/gateway-api-conformance not found above "
                + Path.of("").toAbsolutePath());
    }

    /** {@code base/manifests.yaml} with placeholders replaced, plus the suite's GatewayClass. */
    public String base() {
        return gatewayClass() + "---\n" + placeholders(read(root.resolve("base").resolve("manifests.yaml")));
    }

    /** {@code tests/<name>.yaml} with placeholders replaced. */
    public String test(String name) {
        return placeholders(read(root.resolve("tests").resolve(name + ".yaml")));
    }

    /** The suite's GatewayClass, served by Postern. */
    public static String gatewayClass() {
        return """
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata:
                  name: %s
                spec:
                  controllerName: %s
                """.formatted(GATEWAY_CLASS, CONTROLLER);
    }

    /** What the suite's applier does: class name, controller name. */
    public static String placeholders(String yaml) {
        return yaml.replace("{GATEWAY_CLASS_NAME}", GATEWAY_CLASS).replace("{GATEWAY_CONTROLLER_NAME}", CONTROLLER);
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
