package dev.postern.conformance;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The parts of upstream tests that are code rather than cases: mid-test mutations (a ReferenceGrant deleted,
 * EndpointSlices filled with pod IPs) and the weighted-distribution check, each written after its Go source and
 * the {@code special} text of its case file.
 */
public final class Specials {
    private Specials() {
    }

    /**
     * A {@code kind: tls} test: each case is a TLS connection to the Gateway with the case's SNI. With
     * {@code mode: failure}, tls.MakeTLSConnectionAndExpectEventuallyConnectionRejection: the handshake must end in
     * EOF or a reset. With backend {@code tcp-backend}, tcp.MakeTCPRequestAndExpectEventuallyValidResponse with TLS:
     * the welcome line, PING/PONG, IS_TLS (true when the SNI's listener is Passthrough, false for Terminate) and TEST
     * (namespace, pod prefix, and for Passthrough tls.serverName). Connection errors are retried within
     * {@code budgetMs}; a wrong answer on an established connection fails at once. With {@code protocol: HTTPS},
     * tls.MakeTLSRequestAndExpectEventuallyConsistentResponse: HTTP/1.1 inside the passed-through TLS to the echo
     * backend's HTTPS port, trusting the suite's TLS checks CA (its {@code tls-checks-certificate}).
     */
    static String tls(ConformanceCase t, ConformanceEnvironment env, long budgetMs) throws Exception {
        final java.util.List<String> failures = new java.util.ArrayList<>();
        for (int i = 0; i < t.cases().size(); i++) {
            final ConformanceCase.Case c = t.cases().get(i);
            final ConformanceCase.GatewayRef g = t.gateways().get(c.gateway());
            final java.net.InetSocketAddress addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
            final String sni = String.valueOf(c.request().get("sni"));
            final String why;
            if ("failure".equals(c.mode())) {
                why = tlsRejected(addr, sni, budgetMs);
            } else if ("tcp-backend".equals(c.backend()) && c.request().get("protocol") == null) {
                final javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLS");
                ctx.init(null, new javax.net.ssl.TrustManager[] {SuiteCertificates.TlsChecks.CA.toTrustManager()},
                        null);
                why = tcpEcho(addr, sni, ctx, "Passthrough".equals(env.tlsMode(g.namespace(), g.name(), sni)),
                        c.namespace(), "tcp-backend", budgetMs);
            } else if ("HTTPS".equals(c.request().get("protocol"))) {
                why = httpsThroughPassthrough(addr, sni, String.valueOf(c.request().get("host")),
                        String.valueOf(c.request().getOrDefault("path", "/")), c.namespace(), c.backend(), budgetMs);
            } else {
                why = "case shape not replayed: " + c.request();
            }
            if (why != null) {
                failures.add("case " + i + " " + c.request() + ": " + why);
            }
        }
        return failures.isEmpty() ? null : String.join("; ", failures);
    }

    /**
     * HTTP/1.1 over TLS through a Passthrough listener to the echo backend (which terminates with
     * {@code tls-checks-certificate}): the upstream rule is 3 consecutive good answers within the budget (200, the
     * echo's namespace and a pod of the backend; the pod check is a prefix check as upstream's).
     */
    private static String httpsThroughPassthrough(java.net.InetSocketAddress addr, String sni, String host,
                                                  String path, String namespace, String backend, long budgetMs)
            throws Exception {
        final javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLS");
        ctx.init(null, new javax.net.ssl.TrustManager[] {SuiteCertificates.TlsChecks.CA.toTrustManager()}, null);
        final long deadline = System.currentTimeMillis() + budgetMs;
        String last = "no attempt";
        int inARow = 0;
        while (System.currentTimeMillis() < deadline) {
            String why;
            try (javax.net.ssl.SSLSocket s = dialTls(addr, sni, ctx)) {
                s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: " + host
                        + "\r\nConnection: close\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                final String response = new String(s.getInputStream().readAllBytes(),
                        java.nio.charset.StandardCharsets.UTF_8);
                final int body = response.indexOf("\r\n\r\n");
                if (!response.startsWith("HTTP/1.1 200") || body < 0) {
                    why = "status line " + response.lines().findFirst().orElse("(none)");
                } else {
                    final com.fasterxml.jackson.databind.JsonNode echo =
                            new com.fasterxml.jackson.databind.ObjectMapper().readTree(response.substring(body + 4));
                    if (!namespace.equals(echo.path("namespace").asText())) {
                        why = "namespace " + echo.path("namespace").asText() + ", want " + namespace;
                    } else if (!echo.path("pod").asText().startsWith(backend)) {
                        why = "pod " + echo.path("pod").asText() + ", want " + backend + "-*";
                    } else if (!sni.equals(echo.path("tls").path("serverName").asText())) {
                        why = "the backend saw SNI " + echo.path("tls").path("serverName").asText() + ", want " + sni;
                    } else {
                        why = null;
                    }
                }
            } catch (java.io.IOException e) {
                why = e.toString();
            }
            if (why == null) {
                if (++inARow == 3) {
                    return null;
                }
                continue;
            }
            inARow = 0;
            last = why;
            Thread.sleep(1000);
        }
        return "no 3 consecutive good answers within " + budgetMs + " ms: " + last;
    }

    private static javax.net.ssl.SSLSocket dialTls(java.net.InetSocketAddress addr, String sni,
                                                   javax.net.ssl.SSLContext ctx) throws java.io.IOException {
        final javax.net.ssl.SSLSocket s = (javax.net.ssl.SSLSocket) ctx.getSocketFactory().createSocket();
        try {
            s.connect(addr, 2000);
            s.setSoTimeout(2000);
            final javax.net.ssl.SSLParameters p = s.getSSLParameters();
            p.setServerNames(List.of(new javax.net.ssl.SNIHostName(sni)));
            p.setProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
            s.setSSLParameters(p);
            s.startHandshake();
            return s;
        } catch (java.io.IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    private static String tlsRejected(java.net.InetSocketAddress addr, String sni, long budgetMs) throws Exception {
        final long deadline = System.currentTimeMillis() + budgetMs;
        String last = "no attempt";
        final javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getDefault();
        do {
            try (javax.net.ssl.SSLSocket s = dialTls(addr, sni, ctx)) {
                last = "the handshake succeeded";
            } catch (java.io.EOFException | java.net.SocketException e) {
                return null; // EOF or connection reset: rejected
            } catch (javax.net.ssl.SSLHandshakeException e) {
                if (e.getCause() instanceof java.io.EOFException || String.valueOf(e.getMessage())
                        .contains("closed by remote host") || String.valueOf(e.getMessage()).contains("EOF")) {
                    return null;
                }
                last = e.toString();
            } catch (java.io.IOException e) {
                last = e.toString();
            }
            Thread.sleep(1000);
        } while (System.currentTimeMillis() < deadline);
        return "not rejected with EOF or reset: " + last;
    }

    /**
     * A {@code kind: tcp} test: each case is tcp.MakeTCPRequestAndExpectEventuallyValidResponse without TLS to the
     * case's Gateway listener: welcome line, PING/PONG, IS_TLS false, TEST with the namespace and a pod of the
     * case's backend.
     */
    static String tcp(ConformanceCase t, ConformanceEnvironment env, long budgetMs) throws Exception {
        if (t.name().equals("TCPRouteReferenceGrant") || t.name().equals("TCPRouteMultipleRoutesAttachment")) {
            return Layer4Mutations.tcp(t, env, budgetMs);
        }
        if (t.name().equals("TCPRouteWeightedRouting")) {
            // tcp.ExpectAddressBeAvailable, then weight.NewFunctionBasedSender over tcp.EchoSendOnce (TEST -> pod).
            final ConformanceCase.GatewayRef g = t.gateways().values().iterator().next();
            final java.net.InetSocketAddress addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
            final String first = tcpEcho(addr, null, null, false, g.namespace(), "tcp-backend", budgetMs);
            if (first != null) {
                return first;
            }
            return weights(() -> {
                try (java.net.Socket s = new java.net.Socket()) {
                    s.connect(addr, 2000);
                    s.setSoTimeout(5000);
                    final java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(
                            s.getInputStream(), java.nio.charset.StandardCharsets.UTF_8));
                    if (in.readLine() == null) {
                        return "!closed before the welcome line";
                    }
                    s.getOutputStream().write("TEST\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
                    return new com.fasterxml.jackson.databind.ObjectMapper().readTree(in.readLine()).path("pod")
                            .asText();
                } catch (java.io.IOException e) {
                    return "!" + e;
                }
            }, Map.of("tcp-backend-v1", 0.7, "tcp-backend-v2", 0.3, "tcp-backend-v3", 0.0));
        }
        final java.util.List<String> failures = new java.util.ArrayList<>();
        for (int i = 0; i < t.cases().size(); i++) {
            final ConformanceCase.Case c = t.cases().get(i);
            final ConformanceCase.GatewayRef g = t.gateways().get(c.gateway());
            final String why = tcpEcho(env.gatewayAddress(g.namespace(), g.name(), g.listener()), null, null, false,
                    c.namespace(), c.backend(), budgetMs);
            if (why != null) {
                failures.add("case " + i + " (" + c.gateway() + "): " + why);
            }
        }
        return failures.isEmpty() ? null : String.join("; ", failures);
    }

    /**
     * A {@code kind: udp} test: each case is udp.ExpectEchoResponseFromBackend against the case's Gateway listener:
     * the probe {@code gateway-api-conformance-udp-echo}, a reply within 2 s whose JSON names the case's backend
     * Service and namespace; retried every second within {@code budgetMs}.
     */
    static String udp(ConformanceCase t, ConformanceEnvironment env, long budgetMs) throws Exception {
        switch (t.name()) {
            case "UDPRouteReferenceGrant", "UDPRouteMultipleRoutesAttachment", "UDPRoute" -> {
                return Layer4Mutations.udp(t, env, budgetMs);
            }
            default -> {
            }
        }
        final java.util.List<String> failures = new java.util.ArrayList<>();
        final byte[] probe = "gateway-api-conformance-udp-echo".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        if (t.name().equals("UDPRouteWeightedRouting")) {
            // Each probe from a fresh socket (a new client port, so a new session): the pod that answered.
            final ConformanceCase.GatewayRef g = t.gateways().values().iterator().next();
            final java.net.InetSocketAddress addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
            return weights(() -> {
                try (java.net.DatagramSocket s = new java.net.DatagramSocket()) {
                    s.connect(addr);
                    s.setSoTimeout(2000);
                    s.send(new java.net.DatagramPacket(probe, probe.length));
                    final java.net.DatagramPacket r = new java.net.DatagramPacket(new byte[1024], 1024);
                    s.receive(r);
                    return new com.fasterxml.jackson.databind.ObjectMapper().readTree(new String(r.getData(), 0,
                            r.getLength(), java.nio.charset.StandardCharsets.UTF_8)).path("pod").asText();
                } catch (java.io.IOException e) {
                    return "!" + e;
                }
            }, Map.of("udp-backend-v1", 0.7, "udp-backend-v2", 0.3, "udp-backend-v3", 0.0));
        }
        for (int i = 0; i < t.cases().size(); i++) {
            final ConformanceCase.Case c = t.cases().get(i);
            final ConformanceCase.GatewayRef g = t.gateways().get(c.gateway());
            final java.net.InetSocketAddress addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
            final long deadline = System.currentTimeMillis() + budgetMs;
            String last = "no attempt";
            boolean ok = false;
            do {
                try (java.net.DatagramSocket s = new java.net.DatagramSocket()) {
                    s.connect(addr);
                    s.setSoTimeout(2000);
                    s.send(new java.net.DatagramPacket(probe, probe.length));
                    final java.net.DatagramPacket r = new java.net.DatagramPacket(new byte[1024], 1024);
                    s.receive(r);
                    final com.fasterxml.jackson.databind.JsonNode j = new com.fasterxml.jackson.databind.ObjectMapper()
                            .readTree(new String(r.getData(), 0, r.getLength(), java.nio.charset.StandardCharsets.UTF_8));
                    if (c.backend().equals(j.path("service").asText())
                            && c.namespace().equals(j.path("namespace").asText())) {
                        ok = true;
                    } else {
                        last = "answer from service " + j.path("service").asText() + " in "
                                + j.path("namespace").asText();
                    }
                } catch (java.io.IOException e) {
                    last = e.toString();
                }
                if (!ok) {
                    Thread.sleep(1000);
                }
            } while (!ok && System.currentTimeMillis() < deadline);
            if (!ok) {
                failures.add("case " + i + " (" + c.gateway() + "): " + last);
            }
        }
        return failures.isEmpty() ? null : String.join("; ", failures);
    }

    /** One echo-basic tcpserver exchange; TLS with {@code sni} when {@code ctx} is not null. */
    static String tcpEcho(java.net.InetSocketAddress addr, String sni, javax.net.ssl.SSLContext ctx,
                                  boolean passthrough, String namespace, String backend, long budgetMs)
            throws Exception {
        final long deadline = System.currentTimeMillis() + budgetMs;
        String last = "no attempt";
        do {
            final java.net.Socket s;
            final java.io.BufferedReader in;
            final String welcome;
            try {
                if (ctx != null) {
                    s = dialTls(addr, sni, ctx);
                } else {
                    s = new java.net.Socket();
                    s.connect(addr, 2000);
                    s.setSoTimeout(2000);
                }
                in = new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream(),
                        java.nio.charset.StandardCharsets.UTF_8));
                welcome = in.readLine();
            } catch (java.io.IOException e) {
                last = e.toString();
                Thread.sleep(1000);
                continue;
            }
            if (welcome == null) { // accepted, then closed: no route yet
                s.close();
                last = "closed before the welcome line";
                Thread.sleep(1000);
                continue;
            }
            try (s) {
                if (!(welcome + "\n").equals(TcpEchoServer.WELCOME)) {
                    return "welcome line " + welcome;
                }
                final java.io.OutputStream out = s.getOutputStream();
                out.write("PING\nIS_TLS\nTEST\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
                out.flush();
                final String pong = in.readLine();
                final String isTls = in.readLine();
                final com.fasterxml.jackson.databind.JsonNode test = new com.fasterxml.jackson.databind.ObjectMapper()
                        .readTree(in.readLine());
                if (!"PONG".equals(pong)) {
                    return "PING answered " + pong;
                }
                if (!String.valueOf(passthrough).equals(isTls)) {
                    return "IS_TLS answered " + isTls + ", expected " + passthrough;
                }
                if (!namespace.equals(test.path("namespace").asText())) {
                    return "TEST namespace " + test.path("namespace").asText();
                }
                if (!test.path("pod").asText().startsWith(backend + "-")) {
                    return "TEST pod " + test.path("pod").asText();
                }
                if (ctx != null && passthrough && !sni.equals(test.path("tls").path("serverName").asText())) {
                    return "TEST tls.serverName " + test.path("tls").path("serverName").asText();
                }
                return null;
            } catch (java.io.IOException e) {
                return "after connecting: " + e;
            }
        } while (System.currentTimeMillis() < deadline);
        return "no TLS connection within " + budgetMs + " ms: " + last;
    }

    /** Runs a test that needs code; returns null when it passed, else why not. Null result for unknown tests too. */
    @SuppressWarnings("unchecked")
    static String run(ConformanceCase t, ConformanceEnvironment env, CaseRunner runner, ConformanceClient client)
            throws Exception {
        switch (t.name()) {
            case "HTTPRouteReferenceGrant" -> {
                String why = runner.run(t, t.cases().get(0));
                if (why != null) {
                    return "before delete: " + why;
                }
                env.update(docs -> {
                    docs.removeIf(d -> "ReferenceGrant".equals(d.get("kind"))
                            && "reference-grant".equals(((Map<String, Object>) d.get("metadata")).get("name")));
                    return docs;
                });
                why = runner.run(t, t.cases().get(1));
                return why == null ? null : "after delete: " + why;
            }
            case "HTTPRouteServiceTypes" -> {
                final List<String> ips = env.podIps("gateway-conformance-infra", "infra-backend-v1");
                env.update(docs -> {
                    for (Map<String, Object> d : docs) {
                        if ("EndpointSlice".equals(d.get("kind")) && "IPv4".equals(d.get("addressType"))) {
                            final List<Object> eps = new ArrayList<>();
                            for (String ip : ips) {
                                eps.add(Map.of("addresses", List.of(ip), "conditions",
                                        Map.of("ready", true, "serving", true, "terminating", false)));
                            }
                            d.put("endpoints", eps);
                        }
                    }
                    return docs;
                });
                return runAll(t, runner);
            }
            case "HTTPRouteWeight" -> {
                final String why = runner.run(t, t.cases().get(0));
                if (why != null) {
                    return why;
                }
                final ConformanceCase.GatewayRef g = t.gateways().values().iterator().next();
                final var addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
                return weights(() -> {
                    final Map<String, String> h = new HashMap<>();
                    if (ThreadLocalRandom.current().nextBoolean()) {
                        h.put("X-Jitter", String.valueOf(ThreadLocalRandom.current().nextInt(10_000)));
                    }
                    final ConformanceClient.Response r = client.send(addr, new ConformanceClient.Request(
                            ConformanceClient.Protocol.HTTP, "GET", addr.getAddress().getHostAddress(), "/", h,
                            null, null));
                    if (r.status() != 200) {
                        return "!status " + r.status();
                    }
                    return new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.body()).path("pod").asText();
                }, Map.of("infra-backend-v1", 0.7, "infra-backend-v2", 0.3, "infra-backend-v3", 0.0));
            }
            case "HTTPRouteRequestMirror", "HTTPRouteRequestMultipleMirrors" -> {
                for (ConformanceCase.Case c0 : t.cases()) {
                    final ConformanceCase.Case c = c0.withQuery("gateway-api-conformance-request-id",
                            java.util.UUID.randomUUID().toString());
                    final String why = runner.run(t, c);
                    if (why != null) {
                        return why;
                    }
                    final String uri = String.valueOf(c.request().get("path"));
                    for (Map<String, Object> m : c.mirroredTo()) {
                        final long deadline = System.currentTimeMillis() + 10_000;
                        while (env.echoCount(String.valueOf(m.get("namespace")), String.valueOf(m.get("name")), uri)
                                == 0) {
                            if (System.currentTimeMillis() > deadline) {
                                return "mirror " + m.get("name") + " never received " + uri;
                            }
                            Thread.sleep(100);
                        }
                    }
                }
                return null;
            }
            case "HTTPRouteRequestPercentageMirror" -> {
                final double[] percents = {0.20, 0.50, 0.35};
                for (int i = 0; i < t.cases().size(); i++) {
                    final String why = runner.run(t, t.cases().get(i));
                    if (why != null) {
                        return why;
                    }
                    final String mirror = percentageCheck(t, t.cases().get(i), percents[i], env, runner);
                    if (mirror != null) {
                        return mirror;
                    }
                }
                return null;
            }
            case "HTTPRouteRequestHeaderModifierBackendWeights" -> {
                final String why = runner.run(t, t.cases().get(0));
                if (why != null) {
                    return why;
                }
                final ConformanceCase.GatewayRef g = t.gateways().values().iterator().next();
                final var addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
                final com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
                for (int i = 0; i < 100; i++) {
                    final ConformanceClient.Response r = client.send(addr, new ConformanceClient.Request(
                            ConformanceClient.Protocol.HTTP, "GET", addr.getAddress().getHostAddress(), "/",
                            Map.of(), null, null));
                    final com.fasterxml.jackson.databind.JsonNode echo = json.readTree(r.body());
                    final com.fasterxml.jackson.databind.JsonNode backend = echo.path("headers").path("Backend");
                    if (!backend.isArray() || backend.size() != 1) {
                        return "request " + i + ": Backend header " + backend + ", want exactly one value";
                    }
                    if (!echo.path("pod").asText().startsWith(backend.get(0).asText())) {
                        return "request " + i + ": pod " + echo.path("pod").asText() + " got Backend "
                                + backend.get(0).asText();
                    }
                }
                return null;
            }
            case "HTTPRouteRetry" -> {
                return runAll(t, runner); // every probe gets a fresh uuid (CaseRunner)
            }
            case "HTTPRouteBackendProtocolWebSocket" -> {
                final ConformanceCase.GatewayRef g = t.gateways().values().iterator().next();
                final var addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
                final String host = addr.getAddress().getHostAddress() + ":" + addr.getPort();
                String last = null;
                int ok = 0;
                final long deadline = System.currentTimeMillis() + CaseRunner.CONSISTENCY_MS;
                while (ok < CaseRunner.CONSECUTIVE && System.currentTimeMillis() < deadline) {
                    try {
                        final String got = client.websocketEcho(addr, host, "/ws");
                        if (got.equals("Websocket Support!|01020304050607")) {
                            ok++;
                            continue;
                        }
                        last = "echoed " + got;
                    } catch (Exception e) {
                        last = "websocket failed: " + e;
                    }
                    ok = 0;
                    Thread.sleep(1000);
                }
                return ok >= CaseRunner.CONSECUTIVE ? null : last;
            }
            default -> {
                return null;
            }
        }
    }

    private static final Map<String, Integer> GRPC_CODES = Map.ofEntries(Map.entry("OK", 0),
            Map.entry("Canceled", 1), Map.entry("Unknown", 2), Map.entry("InvalidArgument", 3),
            Map.entry("DeadlineExceeded", 4), Map.entry("NotFound", 5), Map.entry("PermissionDenied", 7),
            Map.entry("Unimplemented", 12), Map.entry("Internal", 13), Map.entry("Unavailable", 14),
            Map.entry("Unauthenticated", 16));

    /**
     * conformance/utils/grpc: the code must match; on OK the echoed fully qualified method, the namespace (when
     * expected) and the pod prefix are compared. 3 consecutive passes within 30 s.
     */
    @SuppressWarnings("unchecked")
    static String grpc(ConformanceCase t, ConformanceEnvironment env, ConformanceClient client)
            throws InterruptedException {
        for (ConformanceCase.Case c : t.cases()) {
            final ConformanceCase.GatewayRef g = t.gateways().get(c.gateway());
            final var addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
            final Map<String, Object> rq = c.request();
            final String authority = rq.get("host") != null ? String.valueOf(rq.get("host"))
                    : addr.getAddress().getHostAddress() + ":" + addr.getPort();
            final Map<String, String> md = new LinkedHashMap<>();
            ((Map<String, Object>) rq.getOrDefault("metadata", Map.of())).forEach((k, v) ->
                    md.put(k.toLowerCase(java.util.Locale.ROOT), String.valueOf(v)));
            final String service = String.valueOf(rq.get("service"));
            final String method = String.valueOf(rq.get("method"));
            final Map<String, Object> want = c.response();
            final int wantCode = GRPC_CODES.getOrDefault(String.valueOf(want.getOrDefault("code", "OK")), -1);
            final long deadline = System.currentTimeMillis() + CaseRunner.CONSISTENCY_MS;
            int ok = 0;
            String last = null;
            while (ok < CaseRunner.CONSECUTIVE && System.currentTimeMillis() < deadline) {
                String why = null;
                try {
                    final ConformanceClient.GrpcResult r = client.grpc(addr, authority, service, method, md);
                    if (r.code() != wantCode) {
                        why = "grpc status " + r.code() + ", want " + want.get("code");
                    } else if (wantCode == 0) {
                        final Map<String, String> echo = GrpcEcho.parse(r.message());
                        final String fqm = "/" + service + "/" + method;
                        if (!fqm.equals(echo.get("method"))) {
                            why = "echoed method " + echo.get("method") + ", want " + fqm;
                        } else if (want.get("namespace") != null && !String.valueOf(want.get("namespace")).isEmpty()
                                && !want.get("namespace").equals(echo.get("namespace"))) {
                            why = "namespace " + echo.get("namespace") + ", want " + want.get("namespace");
                        } else if (want.get("backend") != null
                                && !echo.getOrDefault("pod", "").startsWith(String.valueOf(want.get("backend")))) {
                            why = "reached pod " + echo.get("pod") + ", want " + want.get("backend");
                        }
                    }
                } catch (Exception e) {
                    why = "grpc call failed: " + e;
                }
                if (why == null) {
                    ok++;
                } else {
                    ok = 0;
                    last = why;
                    Thread.sleep(1000);
                }
            }
            if (ok < CaseRunner.CONSECUTIVE) {
                return "case " + rq + ": " + last;
            }
        }
        return null;
    }

    /** True when {@link #run} knows the test. */
    static boolean handles(String name) {
        return switch (name) {
            case "HTTPRouteReferenceGrant", "HTTPRouteServiceTypes", "HTTPRouteWeight",
                 "HTTPRouteBackendProtocolWebSocket", "HTTPRouteRetry", "HTTPRouteRequestMirror",
                 "HTTPRouteRequestMultipleMirrors", "HTTPRouteRequestPercentageMirror",
                 "HTTPRouteRequestHeaderModifierBackendWeights" -> true;
            default -> false;
        };
    }

    /**
     * conformance/utils/http/mirror.go: 500 requests sharing one request id, each passing the normal comparison;
     * the mirror must have logged 500·p ± 3·sqrt(500·p·(1−p)) of them. Five checks at most.
     */
    private static String percentageCheck(ConformanceCase t, ConformanceCase.Case c0, double p,
                                           ConformanceEnvironment env, CaseRunner runner) throws Exception {
        final double mean = 500 * p;
        final double tolerance = 3 * Math.sqrt(500 * p * (1 - p));
        String last = null;
        final ExecutorService pool = Executors.newFixedThreadPool(10);
        try {
            for (int check = 0; check < 5; check++) {
                final ConformanceCase.Case c = c0.withQuery("gateway-api-conformance-request-id",
                        java.util.UUID.randomUUID().toString()).withMode("once");
                final List<Future<String>> fs = new ArrayList<>();
                for (int i = 0; i < 500; i++) {
                    fs.add(pool.submit(() -> runner.run(t, c)));
                }
                String bad = null;
                for (Future<String> f : fs) {
                    final String why = f.get();
                    bad = why != null ? why : bad;
                }
                Thread.sleep(200); // let the last mirrored requests land
                final Map<String, Object> m = c.mirroredTo().isEmpty()
                        ? Map.of("name", "infra-backend-v2", "namespace", "gateway-conformance-infra")
                        : c.mirroredTo().getFirst();
                final int got = env.echoCount(String.valueOf(m.get("namespace")), String.valueOf(m.get("name")),
                        String.valueOf(c.request().get("path")));
                if (bad == null && Math.abs(got - mean) <= tolerance) {
                    return null;
                }
                last = bad != null ? bad : "mirrored " + got + " of 500, want " + mean + " ± " + tolerance;
                Thread.sleep(2000);
            }
            return last;
        } finally {
            pool.shutdownNow();
        }
    }

    private static String runAll(ConformanceCase t, CaseRunner runner) throws InterruptedException {
        for (ConformanceCase.Case c : t.cases()) {
            final String why = runner.run(t, c);
            if (why != null) {
                return why;
            }
        }
        return null;
    }

    /**
     * conformance/utils/weight: 500 requests, 10 in flight, half with an X-Jitter header; the backend is the pod
     * name less its last two parts; every weight within ±5 % and exactly the weighted backends hit; 10 attempts.
     */
    /** The weighted-distribution check for gRPC (GRPCRouteWeight): the same rules, over Echo RPCs. */
    static String grpcWeights(ConformanceCase t, ConformanceEnvironment env, ConformanceClient client)
            throws Exception {
        final ConformanceCase.GatewayRef g = t.gateways().values().iterator().next();
        final var addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
        return weights(() -> {
            final Map<String, String> md = new HashMap<>();
            if (ThreadLocalRandom.current().nextBoolean()) {
                md.put("x-jitter", String.valueOf(ThreadLocalRandom.current().nextInt(10_000)));
            }
            final ConformanceClient.GrpcResult r = client.grpc(addr, addr.getAddress().getHostAddress() + ":"
                    + addr.getPort(), "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho", "Echo", md);
            return r.code() != 0 ? "!code " + r.code() : GrpcEcho.parse(r.message()).getOrDefault("pod", "");
        }, Map.of("grpc-infra-backend-v1", 0.7, "grpc-infra-backend-v2", 0.3, "grpc-infra-backend-v3", 0.0));
    }

    /**
     * @param probe one request; returns the pod that answered, or a string starting with "!" on failure
     */
    static String weights(java.util.concurrent.Callable<String> probe, Map<String, Double> want)
            throws Exception {
        String last = null;
        final ExecutorService pool = Executors.newFixedThreadPool(10);
        try {
            for (int attempt = 0; attempt < 10; attempt++) {
                final List<Future<String>> fs = new ArrayList<>();
                for (int i = 0; i < 500; i++) {
                    fs.add(pool.submit(() -> {
                        final String pod = probe.call();
                        if (pod.startsWith("!")) {
                            return pod;
                        }
                        final String[] parts = pod.split("-");
                        return String.join("-", java.util.Arrays.copyOf(parts, Math.max(0, parts.length - 2)));
                    }));
                }
                final Map<String, Integer> counts = new LinkedHashMap<>();
                String bad = null;
                for (Future<String> f : fs) {
                    final String b = f.get();
                    if (b.startsWith("!") || !want.containsKey(b)) {
                        bad = "unexpected response or backend: " + b;
                    }
                    counts.merge(b, 1, Integer::sum);
                }
                if (bad == null) {
                    final long positive = want.values().stream().filter(w -> w > 0).count();
                    if (counts.size() != positive) {
                        bad = "backends hit " + counts + ", want exactly those with weight > 0";
                    }
                    for (Map.Entry<String, Double> e : want.entrySet()) {
                        final double got = counts.getOrDefault(e.getKey(), 0) / 500.0;
                        if (Math.abs(got - e.getValue()) > 0.05) {
                            bad = "weight of " + e.getKey() + " is " + got + ", want " + e.getValue() + " ±0.05";
                        }
                    }
                }
                if (bad == null) {
                    return null;
                }
                last = bad;
            }
            return last;
        } finally {
            pool.shutdownNow();
        }
    }
}
