package dev.postern.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.Features;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The report counts upstream's tests per profile, whatever subset the replay ran. */
class ConformanceReportTest {

    @Test
    void profilesHaveUpstreamsCoreCounts() {
        // v1.6.1's reports: GATEWAY-HTTP core 37, GRPC 15, TLS 20, TCP 19, UDP 20.
        assertEquals(37, ConformanceReport.core("GATEWAY-HTTP").size());
        assertEquals(15, ConformanceReport.core("GATEWAY-GRPC").size());
        assertEquals(20, ConformanceReport.core("GATEWAY-TLS").size());
        assertEquals(19, ConformanceReport.core("GATEWAY-TCP").size());
        assertEquals(20, ConformanceReport.core("GATEWAY-UDP").size());
        final long httpExtended = ConformanceReport.UPSTREAM.stream().filter(t -> t.in("GATEWAY-HTTP", false)).count();
        assertEquals(57, httpExtended, "the HTTPRoute extended tests issue 6 names");
    }

    @Test
    void testsNotRunAreSkippedAndUnclaimedFeaturesCarryTheirReason(@TempDir Path dir) throws Exception {
        ConformanceReport.write("traffic", Map.of("HTTPRouteSimpleSameNamespace", "passed",
                "HTTPRouteCORS", "failed: no Access-Control-Allow-Origin"), Map.of(), dir);
        final String report = Files.readString(dir.resolve("conformance-report.yaml"));
        assertTrue(report.contains("Passed: 1") && report.contains("Skipped: 36"), report);
        assertTrue(report.contains("- HTTPRouteCORS"), "a failed extended test is listed: " + report);
        for (String f : List.of("GatewayInfrastructurePropagation", "GatewayStaticAddresses")) {
            assertTrue(report.contains("- " + f), f + " unsupported: " + report);
        }
        assertTrue(report.contains(Features.UNSUPPORTED.get("GatewayStaticAddresses").substring(0, 20)), report);
        // A claimed feature is reported as supported (its tests counted), never as unsupported.
        assertTrue(report.contains("- ListenerSet"), "ListenerSet supported: " + report);
        assertTrue(!report.contains("ListenerSet: "), "no reason is given for a claimed feature: " + report);
    }
}
