package dev.postern.conformance;

import dev.postern.config.status.ResourceStatus;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The layer 4 tests that change objects mid-test or need a protocol of their own, after their v1.6.1 Go sources:
 * TCPRouteReferenceGrant and UDPRouteReferenceGrant (the ReferenceGrant deleted, then ResolvedRefs=False
 * RefNotPermitted), TCPRouteMultipleRoutesAttachment and UDPRouteMultipleRoutesAttachment (a newer route added to
 * the same listener: both Accepted, attachedRoutes 2, only the oldest gets traffic) and UDPRoute (a DNS query to the
 * suite's CoreDNS, here {@link DnsResponder}). Status is read from the configuration Postern published, as the
 * suite reads it from the API server.
 */
final class Layer4Mutations {
    static final String INFRA = "gateway-conformance-infra";
    private static final byte[] UDP_PROBE = "gateway-api-conformance-udp-echo".getBytes(StandardCharsets.UTF_8);

    private Layer4Mutations() {
    }

    static String tcp(ConformanceCase t, ConformanceEnvironment env, long budgetMs) throws Exception {
        final ConformanceCase.GatewayRef g = t.gateways().get("gw");
        final InetSocketAddress addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
        final ConformanceCase.Case c = t.cases().getFirst();
        if (t.name().equals("TCPRouteReferenceGrant")) {
            String why = Specials.tcpEcho(addr, null, null, false, c.namespace(), c.backend(), budgetMs);
            if (why != null) {
                return "before the ReferenceGrant is deleted: " + why;
            }
            deleteReferenceGrant(env, "gateway-conformance-web-backend", "tcp-reference-grant");
            why = routeCondition(env, "TCPRoute", INFRA, "tcp-reference-grant", g.name(), "ResolvedRefs", "False",
                    "RefNotPermitted", budgetMs);
            return why != null ? why : tcpRefused(addr, budgetMs);
        }
        // TCPRouteMultipleRoutesAttachment
        String why = addNewerRoute(env, "TCPRoute", "tcproute-attach-newer", g, "tcp-attach-backend-2", 3000,
                "tcproute-attach-older", budgetMs);
        if (why != null) {
            return why;
        }
        why = Specials.tcpEcho(addr, null, null, false, c.namespace(), c.backend(), budgetMs);
        if (why != null) {
            return why;
        }
        for (int i = 0; i < 100; i++) {
            final String pod = tcpEchoSendOnce(addr);
            if (pod.startsWith("tcp-attach-backend-2-")) {
                return "request " + (i + 1) + "/100 reached newer route backend " + pod
                        + "; only the oldest route should be attached";
            }
            if (!pod.startsWith("tcp-attach-backend-1-")) {
                return "request " + (i + 1) + "/100: " + pod + ", expected a pod of tcp-attach-backend-1";
            }
        }
        return null;
    }

    static String udp(ConformanceCase t, ConformanceEnvironment env, long budgetMs) throws Exception {
        final ConformanceCase.GatewayRef g = t.gateways().get("gw");
        final InetSocketAddress addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
        switch (t.name()) {
            case "UDPRouteReferenceGrant" -> {
                String why = routeCondition(env, "UDPRoute", INFRA, "udp-route-reference-grant", g.name(),
                        "ResolvedRefs", "True", "ResolvedRefs", budgetMs);
                if (why != null) {
                    return why;
                }
                final ConformanceCase.Case c = t.cases().getFirst();
                why = udpEventually(addr, budgetMs, j -> c.backend().equals(j.path("service").asText())
                        && c.namespace().equals(j.path("namespace").asText()) ? null
                        : "answer from service " + j.path("service").asText() + " in " + j.path("namespace").asText());
                if (why != null) {
                    return "before the ReferenceGrant is deleted: " + why;
                }
                deleteReferenceGrant(env, "gateway-conformance-app-backend", "udp-reference-grant");
                why = routeCondition(env, "UDPRoute", INFRA, "udp-route-reference-grant", g.name(), "ResolvedRefs",
                        "False", "RefNotPermitted", budgetMs);
                return why != null ? why : udpUnanswered(addr, budgetMs);
            }
            case "UDPRouteMultipleRoutesAttachment" -> {
                final String why = addNewerRoute(env, "UDPRoute", "udproute-attach-newer", g,
                        "udp-attach-backend-2", 8080, "udproute-attach-older", budgetMs);
                if (why != null) {
                    return why;
                }
                return udpOnlyOlder(addr, budgetMs);
            }
            default -> {
                return dns(addr, budgetMs);
            }
        }
    }

    /** suite.Client.Delete of a ReferenceGrant that the test's manifests created. */
    @SuppressWarnings("unchecked")
    private static void deleteReferenceGrant(ConformanceEnvironment env, String namespace, String name)
            throws Exception {
        final boolean[] found = {false};
        env.update(docs -> {
            found[0] = docs.removeIf(d -> "ReferenceGrant".equals(d.get("kind"))
                    && namespace.equals(((Map<String, Object>) d.get("metadata")).get("namespace"))
                    && name.equals(((Map<String, Object>) d.get("metadata")).get("name")));
            return docs;
        });
        if (!found[0]) {
            throw new IllegalStateException("no ReferenceGrant " + namespace + "/" + name + " to delete");
        }
    }

    /**
     * The multiple-routes-attachment preamble: a second later than the older route, create the newer route on the
     * same listener; both must be Accepted=True Accepted, and the listener must report its kind, Accepted=True and
     * attachedRoutes 2.
     */
    private static String addNewerRoute(ConformanceEnvironment env, String kind, String name,
                                        ConformanceCase.GatewayRef g, String backend, int port, String older,
                                        long budgetMs) throws Exception {
        Thread.sleep(1000); // upstream: creationTimestamp has second precision
        final String yaml = "apiVersion: gateway.networking.k8s.io/v1\nkind: " + kind + "\nmetadata:\n  name: "
                + name + "\n  namespace: " + g.namespace() + "\nspec:\n  parentRefs:\n  - name: " + g.name()
                + "\n    sectionName: " + g.listener() + "\n  rules:\n  - backendRefs:\n    - name: " + backend
                + "\n      port: " + port + "\n";
        @SuppressWarnings("unchecked")
        final Map<String, Object> route = (Map<String, Object>) new Yaml(new SafeConstructor(new LoaderOptions()))
                .load(yaml);
        env.update(docs -> {
            docs.add(route);
            return docs;
        });
        for (String r : List.of(older, name)) {
            final String why = routeCondition(env, kind, g.namespace(), r, g.name(), "Accepted", "True", "Accepted",
                    budgetMs);
            if (why != null) {
                return why;
            }
        }
        return listener(env, g.namespace(), g.name(), g.listener(), kind, 2, budgetMs);
    }

    // ---- status, polled as the suite polls the API server -------------------------------------------------------

    private static ResourceStatus status(ConformanceEnvironment env, String kind, String ns, String name) {
        for (ResourceStatus s : env.config().snapshot().statuses()) {
            if (s.kind().equals(kind) && s.namespace().equals(ns) && s.name().equals(name)) {
                return s;
            }
        }
        return null;
    }

    private static boolean hasCondition(Object conditions, String type, String status, String reason) {
        if (!(conditions instanceof List<?> cs)) {
            return false;
        }
        for (Object o : cs) {
            if (o instanceof Map<?, ?> c && type.equals(c.get("type")) && status.equals(c.get("status"))
                    && reason.equals(c.get("reason"))) {
                return true;
            }
        }
        return false;
    }

    /** TCPRouteMustHaveCondition / UDPRouteMustHaveCondition: a parent for the Gateway with the condition. */
    static String routeCondition(ConformanceEnvironment env, String kind, String ns, String route, String gateway,
                                 String type, String status, String reason, long budgetMs)
            throws InterruptedException {
        final long deadline = System.currentTimeMillis() + budgetMs;
        String last;
        do {
            final ResourceStatus s = status(env, kind, ns, route);
            last = s == null ? "no status" : String.valueOf(s.status().get("parents"));
            if (s != null && s.status().get("parents") instanceof List<?> ps) {
                for (Object o : ps) {
                    if (o instanceof Map<?, ?> p && p.get("parentRef") instanceof Map<?, ?> ref
                            && gateway.equals(ref.get("name"))
                            && (ref.get("namespace") == null || ns.equals(ref.get("namespace")))
                            && hasCondition(p.get("conditions"), type, status, reason)) {
                        return null;
                    }
                }
            }
            Thread.sleep(100);
        } while (System.currentTimeMillis() < deadline);
        return kind + " " + ns + "/" + route + ": no parent " + gateway + " with " + type + "=" + status + " "
                + reason + " within " + budgetMs + " ms: " + last;
    }

    /** GatewayStatusMustHaveListeners for one listener: its kind, Accepted=True Accepted and attachedRoutes. */
    static String listener(ConformanceEnvironment env, String ns, String gateway, String name, String kind,
                           int attached, long budgetMs) throws InterruptedException {
        final long deadline = System.currentTimeMillis() + budgetMs;
        String last;
        do {
            final ResourceStatus s = status(env, "Gateway", ns, gateway);
            last = s == null ? "no status" : String.valueOf(s.status().get("listeners"));
            if (s != null && s.status().get("listeners") instanceof List<?> ls && ls.size() == 1
                    && ls.getFirst() instanceof Map<?, ?> l && name.equals(l.get("name"))
                    && Integer.valueOf(attached).equals(l.get("attachedRoutes"))
                    && hasCondition(l.get("conditions"), "Accepted", "True", "Accepted")
                    && l.get("supportedKinds") instanceof List<?> ks
                    && ks.stream().anyMatch(k -> k instanceof Map<?, ?> m && kind.equals(m.get("kind"))
                            && "gateway.networking.k8s.io".equals(m.get("group")))) {
                return null;
            }
            Thread.sleep(100);
        } while (System.currentTimeMillis() < deadline);
        return "Gateway " + gateway + ": want the single listener " + name + " with " + kind + ", Accepted and "
                + attached + " attached routes within " + budgetMs + " ms: " + last;
    }

    // ---- traffic ------------------------------------------------------------------------------------------------

    /** tcp.EchoSendOnce: connect, read the welcome line, send TEST, return the pod (or "!" and the error). */
    private static String tcpEchoSendOnce(InetSocketAddress addr) {
        try (Socket s = new Socket()) {
            s.connect(addr, 5000);
            s.setSoTimeout(5000);
            final BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(),
                    StandardCharsets.UTF_8));
            if (in.readLine() == null) {
                return "!closed before the welcome line";
            }
            s.getOutputStream().write("TEST\n".getBytes(StandardCharsets.UTF_8));
            final String line = in.readLine();
            return line == null ? "!closed before the TEST answer" : new ObjectMapper().readTree(line).path("pod")
                    .asText();
        } catch (IOException e) {
            return "!" + e;
        }
    }

    /** Not upstream: after the grant is gone, connections end (EOF or reset) before any echo byte, 3 in a row. */
    private static String tcpRefused(InetSocketAddress addr, long budgetMs) throws InterruptedException {
        final long deadline = System.currentTimeMillis() + budgetMs;
        String last = "no attempt";
        int inARow = 0;
        do {
            try (Socket s = new Socket()) {
                s.connect(addr, 2000);
                s.setSoTimeout(2000);
                final String line = new BufferedReader(new InputStreamReader(s.getInputStream(),
                        StandardCharsets.UTF_8)).readLine();
                if (line == null) {
                    inARow++;
                } else {
                    inARow = 0;
                    last = "the backend still answered: " + line;
                }
            } catch (SocketTimeoutException e) {
                inARow = 0;
                last = "the connection stayed open without an answer";
            } catch (IOException e) {
                inARow++; // refused or reset
            }
            if (inARow == 3) {
                return null;
            }
            if (inARow == 0) {
                Thread.sleep(500);
            }
        } while (System.currentTimeMillis() < deadline);
        return "connections still reach the backend after the ReferenceGrant was deleted: " + last;
    }

    /** One probe from a fresh socket (a new session); the decoded answer, or null when none came within 2 s. */
    private static JsonNode udpOnce(InetSocketAddress addr) throws IOException {
        try (DatagramSocket s = new DatagramSocket()) {
            s.connect(addr);
            s.setSoTimeout(2000);
            s.send(new DatagramPacket(UDP_PROBE, UDP_PROBE.length));
            final DatagramPacket r = new DatagramPacket(new byte[1024], 1024);
            s.receive(r);
            return new ObjectMapper().readTree(new String(r.getData(), 0, r.getLength(), StandardCharsets.UTF_8));
        } catch (SocketTimeoutException | java.net.PortUnreachableException e) {
            return null;
        }
    }

    /** udp.ExpectEchoResponseFromBackend: polled every second until {@code check} accepts an answer. */
    private static String udpEventually(InetSocketAddress addr, long budgetMs,
                                        java.util.function.Function<JsonNode, String> check)
            throws InterruptedException {
        final long deadline = System.currentTimeMillis() + budgetMs;
        String last = "no attempt";
        do {
            try {
                final JsonNode j = udpOnce(addr);
                last = j == null ? "no answer within 2 s" : check.apply(j);
                if (last == null) {
                    return null;
                }
            } catch (IOException e) {
                last = e.toString();
            }
            Thread.sleep(1000);
        } while (System.currentTimeMillis() < deadline);
        return last;
    }

    /** Not upstream: after the grant is gone, probes go unanswered, 3 in a row. */
    private static String udpUnanswered(InetSocketAddress addr, long budgetMs) throws InterruptedException {
        final long deadline = System.currentTimeMillis() + budgetMs;
        int inARow = 0;
        String last = "no attempt";
        do {
            try {
                final JsonNode j = udpOnce(addr);
                if (j == null) {
                    if (++inARow == 3) {
                        return null;
                    }
                    continue;
                }
                last = "answered by " + j.path("pod").asText();
            } catch (IOException e) {
                if (++inARow == 3) {
                    return null;
                }
                continue;
            }
            inARow = 0;
            Thread.sleep(500);
        } while (System.currentTimeMillis() < deadline);
        return "probes still reach the backend after the ReferenceGrant was deleted: " + last;
    }

    /**
     * "Only the oldest UDPRoute should receive traffic": every second within the budget, 20 probes; all must be
     * answered by udp-attach-backend-1. A failed probe retries the round, another backend fails at once.
     */
    private static String udpOnlyOlder(InetSocketAddress addr, long budgetMs) throws Exception {
        final long deadline = System.currentTimeMillis() + budgetMs;
        String last = "no attempt";
        do {
            boolean round = true;
            for (int i = 0; i < 20 && round; i++) {
                final JsonNode j;
                try {
                    j = udpOnce(addr);
                } catch (IOException e) {
                    last = "probe " + (i + 1) + ": " + e;
                    round = false;
                    continue;
                }
                if (j == null) {
                    last = "probe " + (i + 1) + ": no answer within 2 s";
                    round = false;
                    continue;
                }
                final String pod = j.path("pod").asText();
                final String[] parts = pod.split("-");
                final String backend = String.join("-", java.util.Arrays.copyOf(parts,
                        Math.max(0, parts.length - 2)));
                if (!backend.equals("udp-attach-backend-1")) {
                    return "UDP traffic reached unexpected backend " + backend + " (pod " + pod
                            + "); only udp-attach-backend-1 should receive traffic";
                }
            }
            if (round) {
                return null;
            }
            Thread.sleep(1000);
        } while (System.currentTimeMillis() < deadline);
        return last;
    }

    /**
     * UDPRoute: an A query for foo.bar.com (RD set, random id), polled every second. Upstream accepts any reply with
     * the query's id (dns.Exchange); the replay also wants QR, NOERROR, the question echoed and an A record for the
     * name in the additional section (CoreDNS whoami).
     */
    static String dns(InetSocketAddress addr, long budgetMs) throws Exception {
        final long deadline = System.currentTimeMillis() + budgetMs;
        String last = "no attempt";
        do {
            final int id = ThreadLocalRandom.current().nextInt(0x10000);
            final byte[] q = dnsQuery(id, "foo.bar.com", DnsResponder.TYPE_A);
            try (DatagramSocket s = new DatagramSocket()) {
                s.connect(addr);
                s.setSoTimeout(2000);
                s.send(new DatagramPacket(q, q.length));
                final DatagramPacket r = new DatagramPacket(new byte[512], 512);
                s.receive(r);
                last = checkWhoami(java.util.Arrays.copyOf(r.getData(), r.getLength()), q, id);
                if (last == null) {
                    return null;
                }
            } catch (IOException e) {
                last = e.toString();
            }
            Thread.sleep(1000);
        } while (System.currentTimeMillis() < deadline);
        return "no good DNS answer within " + budgetMs + " ms: " + last;
    }

    static byte[] dnsQuery(int id, String name, int type) {
        final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) (id >> 8), (byte) id, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0});
        for (String label : name.split("\\.")) {
            out.write(label.length());
            out.writeBytes(label.getBytes(StandardCharsets.US_ASCII));
        }
        out.writeBytes(new byte[] {0, 0, (byte) type, 0, DnsResponder.CLASS_IN});
        return out.toByteArray();
    }

    /** Null when {@code r} answers query {@code q} as whoami would, else what is wrong with it. */
    static String checkWhoami(byte[] r, byte[] q, int id) {
        if (r.length < 12) {
            return "a " + r.length + "-byte reply";
        }
        if (DnsResponder.u16(r, 0) != id) {
            return "reply id " + DnsResponder.u16(r, 0) + ", query id " + id;
        }
        if ((r[2] & 0x80) == 0) {
            return "QR not set";
        }
        if ((r[3] & 0x0f) != DnsResponder.NOERROR) {
            return "rcode " + (r[3] & 0x0f);
        }
        final int qd = DnsResponder.u16(r, 4);
        final int rrs = DnsResponder.u16(r, 6) + DnsResponder.u16(r, 8) + DnsResponder.u16(r, 10);
        final int qlen = q.length - 12;
        if (qd != 1 || r.length < 12 + qlen || !java.util.Arrays.equals(r, 12, 12 + qlen, q, 12, 12 + qlen)) {
            return "the question is not echoed";
        }
        int i = 12 + qlen;
        for (int n = 0; n < rrs; n++) {
            final int nameAt = i;
            i = skipName(r, i);
            if (i < 0 || i + 10 > r.length) {
                return "a truncated resource record";
            }
            final int type = DnsResponder.u16(r, i);
            final int rdlen = DnsResponder.u16(r, i + 8);
            if (i + 10 + rdlen > r.length) {
                return "a truncated resource record";
            }
            if (type == DnsResponder.TYPE_A && rdlen == 4 && "foo.bar.com".equals(readName(r, nameAt))) {
                return null;
            }
            i += 10 + rdlen;
        }
        return "no A record for foo.bar.com among " + rrs + " records";
    }

    private static int skipName(byte[] b, int i) {
        while (i < b.length) {
            final int len = b[i] & 0xff;
            if (len == 0) {
                return i + 1;
            }
            if ((len & 0xc0) == 0xc0) {
                return i + 2;
            }
            i += 1 + len;
        }
        return -1;
    }

    private static String readName(byte[] b, int i) {
        final StringBuilder sb = new StringBuilder();
        for (int hops = 0; i < b.length && hops < 16; ) {
            final int len = b[i] & 0xff;
            if (len == 0) {
                return sb.toString();
            }
            if ((len & 0xc0) == 0xc0) {
                i = ((len & 0x3f) << 8) | (b[i + 1] & 0xff);
                hops++;
                continue;
            }
            if (!sb.isEmpty()) {
                sb.append('.');
            }
            sb.append(new String(b, i + 1, Math.min(len, b.length - i - 1), StandardCharsets.US_ASCII));
            i += 1 + len;
        }
        return null;
    }
}
