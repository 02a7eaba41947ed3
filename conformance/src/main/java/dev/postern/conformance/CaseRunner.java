package dev.postern.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Replays a ported test's cases against the environment with the upstream comparison rules
 * (conformance/utils/http/http.go CompareRoundTrip at v1.6.1): status in the expected set (408 and 504 are one
 * class), echoed request path/method/namespace/host/headers (values joined with ","), backend pod prefix,
 * response headers, redirect Location parts; and 3 consecutive successes within 30 s.
 */
public final class CaseRunner {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Upstream's RequiredConsecutiveSuccesses. */
    public static final int CONSECUTIVE = 3;
    /** Upstream's MaxTimeToConsistency, in milliseconds. */
    public static final long CONSISTENCY_MS = 30_000;

    private final ConformanceEnvironment env;
    private final ConformanceClient client;

    /** Creates a runner. */
    public CaseRunner(ConformanceEnvironment env, ConformanceClient client) {
        this.env = env;
        this.client = client;
    }

    private long consistencyMs = CONSISTENCY_MS;

    /**
     * Shortens the time a case may take to become consistent. Postern publishes a test's config before its first
     * request is sent, so tests that are only reported (not required) need not wait upstream's full 30 s to fail.
     */
    public CaseRunner withConsistencyMs(long ms) {
        this.consistencyMs = ms;
        return this;
    }

    /** Runs one case; returns null when it passed, else why it failed. */
    public String run(ConformanceCase test, ConformanceCase.Case c) throws InterruptedException {
        final ConformanceCase.GatewayRef g = test.gateways().get(c.gateway());
        final InetSocketAddress addr = env.gatewayAddress(g.namespace(), g.name(), g.listener());
        final long deadline = System.currentTimeMillis() + consistencyMs;
        String last = null;
        int ok = 0;
        final boolean failureMode = "failure".equals(c.mode());
        final int needed = failureMode ? 5 : "once".equals(c.mode()) ? 1 : CONSECUTIVE;
        while (System.currentTimeMillis() < deadline) {
            last = once(addr, c, failureMode);
            if (last == null) {
                if (++ok >= needed) {
                    return null;
                }
                continue;
            }
            if (failureMode && last.startsWith("got 200")) {
                return last; // any 200 fails MakeRequestAndExpectFailure at once
            }
            ok = 0;
            Thread.sleep(250);
        }
        return last;
    }

    @SuppressWarnings("unchecked")
    private String once(InetSocketAddress addr, ConformanceCase.Case original, boolean failureMode) {
        final ConformanceCase.Case c = freshUuid(original);
        final Map<String, Object> rq = c.request();
        final ConformanceClient.Protocol proto = ConformanceClient.Protocol.valueOf(String.valueOf(
                rq.getOrDefault("protocol", "HTTP")));
        final boolean tls = proto == ConformanceClient.Protocol.HTTPS || proto == ConformanceClient.Protocol.H2;
        final String host = rq.get("host") != null ? String.valueOf(rq.get("host"))
                : hostPort(addr, tls);
        final Map<String, String> headers = new LinkedHashMap<>();
        ((Map<String, Object>) rq.getOrDefault("headers", Map.of())).forEach((k, v) -> headers.put(k,
                String.valueOf(v)));
        final String method = String.valueOf(rq.getOrDefault("method", "GET"));
        final String path = String.valueOf(rq.getOrDefault("path", "/"));
        final ConformanceClient.Response resp;
        try {
            resp = client.send(addr, new ConformanceClient.Request(proto, method, host, path, headers,
                    rq.get("body") == null ? null : String.valueOf(rq.get("body")),
                    rq.get("sni") == null ? null : String.valueOf(rq.get("sni")),
                    rq.get("clientCert") == null ? null : String.valueOf(rq.get("clientCert"))));
        } catch (Exception e) {
            return failureMode ? null : "request failed: " + e;
        }
        if (failureMode) {
            if (resp.status() == 200) {
                return "got 200 where a failure was expected";
            }
            return null;
        }
        final Map<String, Object> exp = c.response();
        final List<Integer> codes = new ArrayList<>();
        for (Object o : (List<Object>) exp.getOrDefault("statusCodes", List.of(200))) {
            codes.add(((Number) o).intValue());
        }
        final boolean timeoutClass = (codes.contains(408) || codes.contains(504))
                && (resp.status() == 408 || resp.status() == 504);
        if (!codes.contains(resp.status()) && !timeoutClass) {
            return "status " + resp.status() + ", want " + codes + " (" + abbreviate(resp.text()) + ")";
        }
        if (exp.get("protocol") != null && !exp.get("protocol").equals(resp.proto())) {
            return "protocol " + resp.proto() + ", want " + exp.get("protocol");
        }
        if (resp.status() == 200 || resp.status() == 204) {
            final String why = compareEcho(c, method, path, host, resp);
            if (why != null) {
                return why;
            }
            final String hw = compareResponseHeaders(exp, resp);
            if (hw != null) {
                return hw;
            }
        } else if (resp.status() / 100 == 3 && c.redirectRequest() != null) {
            return compareRedirect(c.redirectRequest(), resp, tls, path);
        }
        return null;
    }

    @SuppressWarnings("unchecked")
    private static String compareEcho(ConformanceCase.Case c, String method, String path, String host,
                                      ConformanceClient.Response resp) {
        JsonNode echo = null;
        if ("application/json".equals(resp.header("content-type"))) {
            try {
                echo = JSON.readTree(resp.body());
            } catch (java.io.IOException e) {
                return "invalid echo JSON: " + e.getMessage();
            }
        }
        // Upstream: a nil ExpectedRequest defaults to the Request itself (host, method, path and headers).
        final Map<String, Object> er = c.expectedRequest() != null ? c.expectedRequest() : c.request();
        final String wantPath = String.valueOf(er.getOrDefault("path", path));
        final String wantMethod = String.valueOf(er.getOrDefault("method", "GET"));
        final String gotPath = echo == null ? "" : echo.path("path").asText();
        final String gotMethod = echo == null ? method : echo.path("method").asText();
        if (!wantPath.equals(gotPath)) {
            return "backend saw path " + gotPath + ", want " + wantPath;
        }
        if (!wantMethod.equals(gotMethod)) {
            return "backend saw method " + gotMethod + ", want " + wantMethod;
        }
        final String gotNs = echo == null ? "" : echo.path("namespace").asText();
        final String wantNs = c.namespace() == null ? "" : c.namespace();
        if (!wantNs.equals(gotNs)) {
            return "namespace " + gotNs + ", want " + wantNs;
        }
        if (er.get("host") != null && !String.valueOf(er.get("host")).isEmpty()) {
            final String gotHost = echo == null ? "" : echo.path("host").asText();
            if (!er.get("host").equals(gotHost)) {
                return "backend saw host " + gotHost + ", want " + er.get("host");
            }
        }
        for (Map.Entry<String, Object> e : ((Map<String, Object>) er.getOrDefault("headers", Map.of())).entrySet()) {
            final String got = echoHeader(echo, e.getKey());
            if (got == null) {
                return "backend did not see header " + e.getKey();
            }
            if (!String.valueOf(e.getValue()).equals(got)) {
                return "backend saw " + e.getKey() + ": " + got + ", want " + e.getValue();
            }
        }
        for (Object a : (List<Object>) er.getOrDefault("absentHeaders", List.of())) {
            if (echoHeader(echo, String.valueOf(a)) != null) {
                return "backend saw header " + a + " that must be absent";
            }
        }
        // Upstream compares ExpectedRequest.SNI with the SNI the backend saw. The case files keep the client's SNI in
        // request.sni, so only an explicit expectedRequest.sni is compared (the BackendTLSPolicy cases say it).
        if (c.expectedRequest() != null && c.expectedRequest().get("sni") != null) {
            final String gotSni = echo == null ? "" : echo.path("tls").path("serverName").asText();
            if (!String.valueOf(c.expectedRequest().get("sni")).equals(gotSni)) {
                return "backend saw SNI \"" + gotSni + "\", want " + c.expectedRequest().get("sni");
            }
        }
        // Upstream: ExpectedRequest.ClientCert must be among the certificates the TLS backend saw
        // (tls.peerCertificates); here expectedRequest.clientCert names the suite Secret, compared by DER.
        if (c.expectedRequest() != null && c.expectedRequest().get("clientCert") != null) {
            final String want = SuiteCertificates.suite().identity(String.valueOf(c.expectedRequest()
                    .get("clientCert"))).certPem().replaceAll("\\s", "");
            boolean seen = false;
            if (echo != null) {
                for (JsonNode pc : echo.path("tls").path("peerCertificates")) {
                    seen |= pc.asText().replaceAll("\\s", "").equals(want);
                }
            }
            if (!seen) {
                return "the backend did not see client certificate " + c.expectedRequest().get("clientCert");
            }
        }
        if (c.backend() != null && !c.backend().isEmpty()) {
            final String pod = echo == null ? "" : echo.path("pod").asText();
            if (!pod.startsWith(c.backend())) {
                return "reached pod " + pod + ", want " + c.backend();
            }
        }
        return null;
    }

    private static String echoHeader(JsonNode echo, String name) {
        if (echo == null) {
            return null;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = echo.path("headers").fields(); it.hasNext(); ) {
            final Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equalsIgnoreCase(name)) {
                final List<String> vs = new ArrayList<>();
                e.getValue().forEach(v -> vs.add(v.asText()));
                return String.join(",", vs);
            }
        }
        return null;
    }

    @SuppressWarnings("unchecked")
    private static String compareResponseHeaders(Map<String, Object> exp, ConformanceClient.Response resp) {
        final boolean ignoreWs = Boolean.TRUE.equals(exp.get("ignoreWhitespace"));
        for (Map.Entry<String, Object> e : ((Map<String, Object>) exp.getOrDefault("headers", Map.of())).entrySet()) {
            final List<String> vs = resp.headers().get(e.getKey().toLowerCase(Locale.ROOT));
            if (vs == null) {
                return "response has no header " + e.getKey();
            }
            String got = String.join(",", vs);
            String want = String.valueOf(e.getValue());
            if (ignoreWs) {
                got = got.replace(" ", "");
                want = want.replace(" ", "");
            }
            if (!want.equals(got)) {
                return "response " + e.getKey() + ": " + got + ", want " + want;
            }
        }
        for (Map.Entry<String, Object> e : ((Map<String, Object>) exp.getOrDefault("validHeaderValues", Map.of()))
                .entrySet()) {
            final List<String> vs = resp.headers().get(e.getKey().toLowerCase(Locale.ROOT));
            if (vs == null) {
                return "response has no header " + e.getKey();
            }
            final String got = ignoreWs ? String.join(",", vs).replace(" ", "") : String.join(",", vs);
            boolean ok = false;
            for (Object v : (List<Object>) e.getValue()) {
                final String want = ignoreWs ? String.valueOf(v).replace(" ", "") : String.valueOf(v);
                ok |= want.equals(got);
            }
            if (!ok) {
                return "response " + e.getKey() + ": " + got + ", want one of " + e.getValue();
            }
        }
        for (Object a : (List<Object>) exp.getOrDefault("absentHeaders", List.of())) {
            if (resp.headers().containsKey(String.valueOf(a).toLowerCase(Locale.ROOT))) {
                return "response has header " + a + " that must be absent";
            }
        }
        return null;
    }

    private static String compareRedirect(Map<String, Object> want, ConformanceClient.Response resp, boolean tls,
                                          String path) {
        final String loc = resp.header("location");
        if (loc == null) {
            return "redirect without Location";
        }
        final URI u;
        try {
            u = URI.create(loc);
        } catch (IllegalArgumentException e) {
            return "invalid Location " + loc;
        }
        final String scheme = want.get("scheme") != null ? String.valueOf(want.get("scheme")) : tls ? "https" : "http";
        if (!scheme.equals(u.getScheme())) {
            return "redirect scheme " + u.getScheme() + ", want " + scheme;
        }
        if (want.get("host") != null && !String.valueOf(want.get("host")).equals(u.getHost())) {
            return "redirect host " + u.getHost() + ", want " + want.get("host");
        }
        final String wantPath = want.get("path") != null ? String.valueOf(want.get("path"))
                : path.contains("?") ? path.substring(0, path.indexOf('?')) : path;
        if (!wantPath.equals(u.getRawPath())) {
            return "redirect path " + u.getRawPath() + ", want " + wantPath;
        }
        final String gotPort = u.getPort() < 0 ? "" : String.valueOf(u.getPort());
        final String wantPort = want.get("port") == null ? "" : String.valueOf(want.get("port"));
        if (wantPort.isEmpty()) {
            final String dflt = "https".equals(u.getScheme()) ? "443" : "80";
            if (!gotPort.isEmpty() && !gotPort.equals(dflt)) {
                return "redirect port " + gotPort + ", want none";
            }
        } else if (!wantPort.equals(gotPort)) {
            return "redirect port " + gotPort + ", want " + wantPort;
        }
        return null;
    }

    /** Cases whose paths hold {@code {uuid}} (the retry simulator) get a new UUID on every probe. */
    private static ConformanceCase.Case freshUuid(ConformanceCase.Case c) {
        final Object path = c.request().get("path");
        if (path == null || !String.valueOf(path).contains("{uuid}")) {
            return c;
        }
        final Map<String, Object> rq = new LinkedHashMap<>(c.request());
        rq.put("path", String.valueOf(path).replace("{uuid}", java.util.UUID.randomUUID().toString()));
        return new ConformanceCase.Case(c.gateway(), rq, c.expectedRequest(), c.redirectRequest(), c.response(),
                c.backend(), c.namespace(), c.mode(), c.mirroredTo());
    }

    private static String hostPort(InetSocketAddress a, boolean tls) {
        final int dflt = tls ? 443 : 80;
        return a.getAddress().getHostAddress() + (a.getPort() == dflt ? "" : ":" + a.getPort());
    }

    private static String abbreviate(String s) {
        return s.length() > 120 ? s.substring(0, 120) + "..." : s;
    }
}
