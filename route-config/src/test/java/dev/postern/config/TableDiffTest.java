package dev.postern.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.postern.config.runtime.TableDiff;

import org.junit.jupiter.api.Test;

/** The one-line summary of a config change that the loader logs after each publish. */
class TableDiffTest {
    private static final String R1 = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: r1, namespace: app}
            spec:
              parentRefs: [{name: gw, namespace: infra, sectionName: http}]
              rules: [{matches: [{path: {type: PathPrefix, value: /one}}], backendRefs: [{name: svc, port: 80}]}]
            """;
    private static final String R2 = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: r2, namespace: app}
            spec:
              parentRefs: [{name: gw, namespace: infra, sectionName: http}]
              hostnames: [two.example]
              rules: [{backendRefs: [{name: svc, port: 80}]}]
            """;

    @Test
    void countsAddedRemovedChangedRoutesSocketsAndEndpoints() {
        final var first = PipelineTest.build(R1).table();
        assertEquals("routes 1 (+1 -0 ~0), sockets 3 (+3 -0), endpoints 2 (+2 -0)", TableDiff.describe(null, first));
        final var same = PipelineTest.build(R1).table();
        assertEquals("routes 1 (+0 -0 ~0), sockets 3 (+0 -0), endpoints 2 (+0 -0)", TableDiff.describe(first, same));
        final var added = PipelineTest.build(R1 + "---\n" + R2).table();
        assertEquals("routes 2 (+1 -0 ~0), sockets 3 (+0 -0), endpoints 2 (+0 -0)", TableDiff.describe(same, added));
        final var changed = PipelineTest.build(R1.replace("/one", "/uno")).table();
        assertEquals("routes 1 (+0 -1 ~1), sockets 3 (+0 -0), endpoints 2 (+0 -0)",
                TableDiff.describe(added, changed));
        final var filtered = PipelineTest.build(R1.replace("backendRefs:", "filters: [{type: RequestHeaderModifier, "
                + "requestHeaderModifier: {set: [{name: x, value: y}]}}], backendRefs:")).table();
        assertEquals("routes 1 (+0 -0 ~1), sockets 3 (+0 -0), endpoints 2 (+0 -0)",
                TableDiff.describe(first, filtered), "a filter change is a change");
    }

    @Test
    void theKeptSummaryOfTheLastTableGivesTheSameLineAsSummarisingAgain() {
        final var first = PipelineTest.build(R1).table();
        final var both = PipelineTest.build(R1 + "---\n" + R2).table();
        final var changed = PipelineTest.build(R1.replace("/one", "/uno") + "---\n" + R2).table();
        TableDiff.describe(null, first);
        final String kept = TableDiff.describe(first, both); // first's summary is the kept one
        TableDiff.describe(null, changed); // now changed's is
        assertEquals(kept, TableDiff.describe(first, both), "first summarised again");
        assertEquals("routes 2 (+1 -0 ~0), sockets 3 (+0 -0), endpoints 2 (+0 -0)", kept);
        assertEquals("routes 2 (+0 -0 ~1), sockets 3 (+0 -0), endpoints 2 (+0 -0)", TableDiff.describe(both, changed));
        assertEquals("routes 2 (+0 -0 ~1), sockets 3 (+0 -0), endpoints 2 (+0 -0)", TableDiff.describe(changed, both));
    }
}
