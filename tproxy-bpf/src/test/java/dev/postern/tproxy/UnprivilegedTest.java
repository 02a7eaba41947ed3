package dev.postern.tproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * A process without privileges learns exactly why it cannot use TPROXY, so that Postern can start without it (or
 * refuse to, when TPROXY is required) with that reason in its log.
 */
class UnprivilegedTest {
    @Test
    void processWithoutCapabilitiesIsToldWhichOnesAreMissing() throws Exception {
        final Shell.Result setpriv = Shell.tryRun("setpriv", "--version");
        Assumptions.assumeTrue(setpriv.exit() == 0, "needs setpriv (util-linux) to drop privileges");
        Assumptions.assumeTrue("0".equals(Shell.tryRun("id", "-u").stdout().strip()),
                "needs root to start a child as an unprivileged user");
        final String java = ProcessHandle.current().info().command().orElseThrow();
        final String classes = Path.of(TproxyDataplane.class.getProtectionDomain().getCodeSource().getLocation()
                .toURI()).toString();
        final String testClasses = Path.of(UnprivilegedProbe.class.getProtectionDomain().getCodeSource()
                .getLocation().toURI()).toString();
        final Shell.Result result = Shell.tryRun("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=-all", java, "--enable-native-access=ALL-UNNAMED", "-cp",
                classes + File.pathSeparator + testClasses, UnprivilegedProbe.class.getName());
        assertEquals(0, result.exit(), result.stderr());
        final List<String> lines = result.stdout().lines().toList();
        assertTrue(lines.getFirst().startsWith("this process lacks CAP_NET_ADMIN and CAP_BPF (or CAP_SYS_ADMIN)"),
                result.stdout());
        assertTrue(lines.get(1).startsWith("start: "), result.stdout());
        assertTrue(lines.get(1).contains("EPERM") && lines.get(1).contains("CAP_BPF"), result.stdout());
    }
}
