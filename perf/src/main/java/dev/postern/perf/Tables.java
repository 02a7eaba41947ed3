package dev.postern.perf;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.diag.Diagnostic;
import dev.postern.config.runtime.PortTable;
import dev.postern.config.runtime.RouteEntry;
import dev.postern.config.runtime.RouteTable;
import dev.postern.config.runtime.VirtualHost;
import dev.postern.proxy.http.RequestHead;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;

import java.util.Map;

/** Helpers shared by the benchmarks: compile a corpus, turn probes into requests, check results. */
final class Tables {
    static final ConfigPipeline.Settings SETTINGS = new ConfigPipeline.Settings(
            ConfigPipeline.Settings.DEFAULT_CONTROLLER, "0.0.0.0");

    private Tables() {
    }

    /**
     * Compiles a corpus through the public pipeline and checks the build: published, no error diagnostics, the
     * corpus's socket present.
     */
    static RouteTable compile(RouteCorpus corpus) {
        final ConfigPipeline.Build b = ConfigPipeline.fromResources(corpus.resources(), SETTINGS, 1);
        check(b, corpus);
        return b.table();
    }

    /** Fails unless the build was published without errors and serves the corpus's socket. */
    static void check(ConfigPipeline.Build b, RouteCorpus corpus) {
        if (b.rejected() || b.hasErrors()) {
            throw new IllegalStateException("corpus build failed: " + b.diagnostics().stream()
                    .filter(Diagnostic::isError).limit(5).toList());
        }
        if (b.table().port(corpus.bind()) == null) {
            throw new IllegalStateException("no port table for " + corpus.bind());
        }
    }

    /** The request as the data plane builds it: Netty headers, then {@link RequestHead#parse}. */
    static RequestHead request(RouteCorpus.Probe p) {
        final HttpHeaders h = new DefaultHttpHeaders();
        h.set(HttpHeaderNames.HOST, p.authority());
        h.set(HttpHeaderNames.USER_AGENT, "perf/1.0");
        h.set(HttpHeaderNames.ACCEPT, "*/*");
        for (Map.Entry<String, String> e : p.headers().entrySet()) {
            h.set(e.getKey(), e.getValue());
        }
        final RequestHead r = RequestHead.parse(p.method(), p.uri(), p.authority(), h);
        if (r == null) {
            throw new IllegalStateException("unparsable probe " + p);
        }
        return r;
    }

    /** The whole lookup the data plane does once it has a request head: port, virtual host, first match. */
    static RouteEntry lookup(RouteTable table, dev.postern.config.runtime.BindKey bind, RequestHead r) {
        final PortTable port = table.port(bind);
        final VirtualHost vh = port == null ? null : port.virtualHost(r.host());
        return vh == null ? null : vh.match(r);
    }

    /**
     * Looks every probe up and checks its expected route name; returns the matched entries, so that benchmarks can
     * then assert by identity.
     */
    static RouteEntry[] resolve(RouteTable table, RouteCorpus corpus, RouteCorpus.Probe[] probes,
                                RequestHead[] requests) {
        final RouteEntry[] out = new RouteEntry[probes.length];
        for (int i = 0; i < probes.length; i++) {
            final RouteEntry e = lookup(table, corpus.bind(), requests[i]);
            final String got = e == null ? null : e.name();
            if (!java.util.Objects.equals(got, probes[i].expected())) {
                throw new IllegalStateException("probe " + probes[i] + " matched " + got);
            }
            out[i] = e;
        }
        return out;
    }
}
