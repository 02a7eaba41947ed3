package dev.postern.config.yaml;

import dev.postern.config.diag.Diagnostic;
import dev.postern.config.diag.Severity;
import dev.postern.config.gatewayapi.BackendTLSPolicy;
import dev.postern.config.gatewayapi.ConfigMap;
import dev.postern.config.gatewayapi.EndpointSlice;
import dev.postern.config.gatewayapi.GRPCRoute;
import dev.postern.config.gatewayapi.L4Route;
import dev.postern.config.gatewayapi.Secret;
import dev.postern.config.gatewayapi.Gateway;
import dev.postern.config.gatewayapi.GatewayClass;
import dev.postern.config.gatewayapi.HTTPBackendRef;
import dev.postern.config.gatewayapi.HTTPRoute;
import dev.postern.config.gatewayapi.HTTPRouteFilter;
import dev.postern.config.gatewayapi.HTTPRouteMatch;
import dev.postern.config.gatewayapi.HTTPRouteRule;
import dev.postern.config.gatewayapi.LabelSelector;
import dev.postern.config.gatewayapi.ListenerSet;
import dev.postern.config.gatewayapi.Namespace;
import dev.postern.config.gatewayapi.ObjectMeta;
import dev.postern.config.gatewayapi.ParentReference;
import dev.postern.config.gatewayapi.ReferenceGrant;
import dev.postern.config.gatewayapi.Resource;
import dev.postern.config.gatewayapi.Service;
import dev.postern.config.gatewayapi.SourceInfo;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.Node;

/**
 * Reads Kubernetes manifests (multi-document YAML) into Gateway API records, with SnakeYAML's safe composer
 * only: no object construction, a small alias budget, a nesting limit and a size limit. Every problem becomes a
 * {@link Diagnostic}; nothing here throws on bad input.
 *
 * <p>Kinds Postern does not read (Deployments, say) are skipped with a debug log line and no diagnostic.
 *
 * <p>Thread-safety: instances are stateless; each call builds its own parser.
 */
public final class YamlReader {
    private static final System.Logger LOG = System.getLogger(YamlReader.class.getName());

    /** The largest file read, in characters. */
    public static final int MAX_FILE_CHARS = 8 * 1024 * 1024;
    private static final int MAX_ALIASES = 16;
    private static final int MAX_DEPTH = 64;

    private static final String GW_GROUP = "gateway.networking.k8s.io";
    /** Kinds the reader knows but Postern does not serve yet: reported as a warning, never silently. */
    private static final Set<String> NOT_YET = Set.of("XListenerSet", "BackendTrafficPolicy",
            "XBackendTrafficPolicy", "XMesh");

    /** What a read produced: the resources and every diagnostic. */
    public record Result(List<Resource> resources, List<Diagnostic> diagnostics) {
        /** Returns true when any diagnostic is an error. */
        public boolean hasErrors() {
            return diagnostics.stream().anyMatch(Diagnostic::isError);
        }
    }

    private YamlReader() {
    }

    /** Reads every {@code *.yaml} and {@code *.yml} file directly in {@code dir}, in name order. */
    public static Result readDirectory(Path dir) {
        return readDirectory(dir, null);
    }

    /**
     * Reads every {@code *.yaml} and {@code *.yml} file directly in {@code dir}, in name order, parsing only the
     * files that changed since {@code cache} last saw them (null: parse everything).
     */
    public static Result readDirectory(Path dir, FileCache cache) {
        final List<Resource> out = new ArrayList<>();
        final List<Diagnostic> diags = new ArrayList<>();
        final List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> {
                final String n = p.getFileName().toString();
                return (n.endsWith(".yaml") || n.endsWith(".yml")) && !n.startsWith(".") && Files.isRegularFile(p);
            }).sorted().toList();
        } catch (IOException e) {
            diags.add(fileError(dir.toString(), 0, "ReadFailed", "cannot list directory: " + e.getMessage()));
            return new Result(out, diags);
        }
        for (Path f : files) {
            final Result r;
            try {
                final java.nio.file.attribute.BasicFileAttributes attrs = FileCache.attributes(f);
                final Result cached = cache == null ? null : cache.get(f, attrs);
                if (cached != null) {
                    r = cached;
                } else if (attrs.size() > MAX_FILE_CHARS) {
                    diags.add(fileError(f.toString(), 0, "TooLarge", "file is larger than "
                            + MAX_FILE_CHARS + " bytes"));
                    continue;
                } else {
                    r = read(f.toString(), Files.readString(f, StandardCharsets.UTF_8));
                    if (cache != null) {
                        cache.put(f, attrs, r);
                    }
                }
            } catch (IOException e) {
                diags.add(fileError(f.toString(), 0, "ReadFailed", "cannot read file: " + e));
                continue;
            }
            out.addAll(r.resources());
            diags.addAll(r.diagnostics());
        }
        if (cache != null) {
            cache.retain(new java.util.HashSet<>(files));
        }
        checkDuplicates(out, diags);
        return new Result(out, diags);
    }

    /** Reads one multi-document YAML text; {@code file} names it in diagnostics. */
    public static Result read(String file, String text) {
        final List<Resource> out = new ArrayList<>();
        final List<Diagnostic> diags = new ArrayList<>();
        final LoaderOptions opts = new LoaderOptions();
        opts.setMaxAliasesForCollections(MAX_ALIASES);
        opts.setAllowRecursiveKeys(false);
        opts.setNestingDepthLimit(MAX_DEPTH);
        opts.setCodePointLimit(MAX_FILE_CHARS);
        opts.setAllowDuplicateKeys(false);
        final Yaml yaml = new Yaml(opts);
        final Map<Object, Object> shared = new HashMap<>();
        try (Reader r = new StringReader(text)) {
            final java.util.Iterator<Node> docs = yaml.composeAll(r).iterator();
            while (docs.hasNext()) {
                final Node doc = docs.next();
                if (doc != null) {
                    readDocumentGuarded(file, doc, out, diags, shared);
                }
            }
        } catch (MarkedYAMLException e) {
            final Mark m = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
            diags.add(fileError(file, m == null ? 0 : m.getLine() + 1, "InvalidYaml",
                    "invalid YAML: " + oneLine(e.getProblem() != null ? e.getProblem() : e.getMessage())));
        } catch (YAMLException e) {
            diags.add(fileError(file, 0, "InvalidYaml", "invalid YAML: " + oneLine(e.getMessage())));
        } catch (IOException e) {
            diags.add(fileError(file, 0, "ReadFailed", e.toString()));
        } catch (RuntimeException e) {
            // SnakeYAML signals some limits with plain runtime exceptions; never let bad input crash the caller.
            diags.add(fileError(file, 0, "InvalidYaml", "invalid YAML: " + oneLine(String.valueOf(e.getMessage()))));
        }
        return new Result(out, diags);
    }

    /**
     * Reads one composed document. SnakeYAML's own failures are caught around the composer above; an unchecked
     * exception from here is a bug in Postern's reading, not bad input: it still becomes a diagnostic (reason
     * {@code InternalError}, the build is rejected and the last good table stays), and is logged with its stack
     * trace. The fuzz target of the loader fails on any such diagnostic.
     */
    private static void readDocumentGuarded(String file, Node doc, List<Resource> out, List<Diagnostic> diags,
                                            Map<Object, Object> shared) {
        try {
            readDocument(file, doc, out, diags, shared);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "bug reading " + file + " at line " + (doc.getStartMark() == null
                    ? 0 : doc.getStartMark().getLine() + 1), e);
            diags.add(fileError(file, doc.getStartMark() == null ? 0 : doc.getStartMark().getLine() + 1,
                    "InternalError", "internal error reading this document: " + e));
        }
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replace('\n', ' ').trim();
    }

    private static Diagnostic fileError(String file, int line, String reason, String message) {
        return new Diagnostic(Severity.ERROR, file, line, "", "", "", "", reason, message);
    }

    private static void checkDuplicates(List<Resource> resources, List<Diagnostic> diags) {
        final Map<String, Resource> seen = new HashMap<>();
        for (Resource r : resources) {
            final String key = r.kind() + "/" + r.metadata().namespace() + "/" + r.metadata().name();
            final Resource prev = seen.putIfAbsent(key, r);
            if (prev != null) {
                diags.add(new Diagnostic(Severity.ERROR, r.source().file(), r.source().line(), r.kind(),
                        r.metadata().namespace(), r.metadata().name(), "metadata.name", "Duplicate",
                        "duplicate resource; first defined at " + prev.source().file() + ":"
                                + prev.source().line()));
            }
        }
    }

    private static void readDocument(String file, Node doc, List<Resource> out, List<Diagnostic> diags,
                                     Map<Object, Object> shared) {
        final YNode.Ctx probe = new YNode.Ctx(file, "", diags, shared);
        final YNode root = new YNode(probe, doc, "");
        if (!root.present()) {
            return; // an empty document ("---" with nothing after it)
        }
        if (!(doc instanceof org.yaml.snakeyaml.nodes.MappingNode)) {
            diags.add(new Diagnostic(Severity.ERROR, file, root.line(), "", "", "", "", "InvalidType",
                    "a document must be a Kubernetes object (a YAML mapping)"));
            return;
        }
        final String kind = root.get("kind").str();
        final String apiVersion = root.get("apiVersion").str();
        if (kind == null || apiVersion == null) {
            diags.add(new Diagnostic(Severity.ERROR, file, root.line(), "", "", "", kind == null ? "kind"
                    : "apiVersion", "Required", "a Kubernetes object needs apiVersion and kind"));
            return;
        }
        if (kind.equals("List") && apiVersion.equals("v1")) {
            for (YNode item : root.get("items").list()) {
                readDocument(file, item.raw(), out, diags, shared);
            }
            return;
        }
        final String group = apiVersion.contains("/") ? apiVersion.substring(0, apiVersion.indexOf('/')) : "";
        final YNode.Ctx ctx = new YNode.Ctx(file, kind, diags, shared);
        final YNode n = new YNode(ctx, doc, "");
        final int before = diags.size();
        try {
            final Resource r = switch (group + "/" + kind) {
                case GW_GROUP + "/GatewayClass" -> gatewayClass(n, apiVersion, ctx);
                case GW_GROUP + "/Gateway" -> gateway(n, apiVersion, ctx);
                case GW_GROUP + "/ListenerSet" -> listenerSet(n, apiVersion, ctx);
                case GW_GROUP + "/HTTPRoute" -> httpRoute(n, apiVersion, ctx);
                case GW_GROUP + "/ReferenceGrant" -> referenceGrant(n, apiVersion, ctx);
                case "/Service" -> service(n, apiVersion, ctx);
                case "discovery.k8s.io/EndpointSlice" -> endpointSlice(n, apiVersion, ctx);
                case "/Namespace" -> namespace(n, apiVersion, ctx);
                case GW_GROUP + "/GRPCRoute" -> grpcRoute(n, apiVersion, ctx);
                case GW_GROUP + "/TLSRoute", GW_GROUP + "/TCPRoute", GW_GROUP + "/UDPRoute" ->
                        l4Route(n, apiVersion, kind, ctx);
                case GW_GROUP + "/BackendTLSPolicy" -> backendTLSPolicy(n, apiVersion, ctx);
                case "/Secret" -> secret(n, apiVersion, ctx);
                case "/ConfigMap" -> configMap(n, apiVersion, ctx);
                default -> {
                    if (NOT_YET.contains(kind)) {
                        meta(n, ctx, true);
                        ctx.report(Severity.WARNING, n.line(), "kind", "UnsupportedKind",
                                kind + " is not served by this version of Postern; the resource is ignored");
                    } else {
                        LOG.log(System.Logger.Level.DEBUG, "{0}:{1}: skipping {2} {3}", file, n.line(),
                                apiVersion, kind);
                    }
                    yield null;
                }
            };
            if (r != null) {
                boolean error = false;
                for (int i = before; i < diags.size(); i++) {
                    error |= diags.get(i).isError();
                }
                if (!error) {
                    out.add(r);
                }
            }
        } catch (YNode.BudgetExceeded e) {
            ctx.report(Severity.ERROR, n.line(), "", "TooLarge",
                    "resource expands to too many YAML nodes (alias expansion or a huge document)");
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Kinds

    private static ObjectMeta meta(YNode root, YNode.Ctx ctx, boolean namespaced) {
        final YNode m = root.get("metadata");
        final String name = m.get("name").required();
        final String ns = namespaced ? m.get("namespace").str("default") : "";
        ctx.name = name == null ? "" : name;
        ctx.namespace = ns;
        return new ObjectMeta(ns, ctx.name, m.get("labels").stringMap(), m.get("generation").longValue(1),
                m.get("creationTimestamp").str(""), m.get("annotations").stringMap());
    }

    private static SourceInfo source(YNode.Ctx ctx, YNode root) {
        return SourceInfo.read(ctx.file, root.line(), ctx.lines, ctx.shared);
    }

    private static final Set<String> TOP = Set.of("apiVersion", "kind", "metadata", "spec", "status");

    private static GatewayClass gatewayClass(YNode n, String apiVersion, YNode.Ctx ctx) {
        n.known(TOP);
        final ObjectMeta meta = meta(n, ctx, false);
        final YNode spec = n.get("spec").known(Set.of("controllerName", "parametersRef", "description"));
        final String controller = spec.get("controllerName").required();
        GatewayClass.ParametersReference pr = null;
        final YNode p = spec.get("parametersRef");
        if (p.present()) {
            pr = new GatewayClass.ParametersReference(p.get("group").str(""), p.get("kind").str(""),
                    p.get("namespace").str(), p.get("name").str(""));
        }
        return new GatewayClass(apiVersion, meta, source(ctx, n), controller, pr);
    }

    private static Gateway gateway(YNode n, String apiVersion, YNode.Ctx ctx) {
        n.known(TOP);
        final ObjectMeta meta = meta(n, ctx, true);
        final YNode spec = n.get("spec").known(Set.of("gatewayClassName", "listeners", "addresses",
                "infrastructure", "tls", "allowedListeners", "backendTLS"));
        final String cls = spec.get("gatewayClassName").required();
        final List<Gateway.Listener> listeners = listeners(spec.get("listeners"));
        final List<Gateway.GatewayAddress> addrs = new ArrayList<>();
        for (YNode a : spec.get("addresses").list()) {
            addrs.add(new Gateway.GatewayAddress(a.get("type").str("IPAddress"), a.get("value").str("")));
        }
        final YNode pr = spec.get("infrastructure").get("parametersRef");
        final Gateway.LocalParametersReference params = pr.present() ? new Gateway.LocalParametersReference(
                pr.get("group").str(""), pr.get("kind").str(""), pr.get("name").str("")) : null;
        final YNode al = spec.get("allowedListeners").known(Set.of("namespaces")).get("namespaces")
                .known(Set.of("from", "selector"));
        final Gateway.AllowedListeners allowed = al.present() ? new Gateway.AllowedListeners(al.get("from")
                .str("None"), al.get("selector").present() ? selector(al.get("selector")) : null)
                : Gateway.AllowedListeners.NONE;
        return new Gateway(apiVersion, meta, source(ctx, n), cls, listeners, addrs, params,
                frontendTls(spec.get("tls")), backendClientCertificateRef(spec.get("tls").get("backend")), allowed);
    }

    /** {@code listeners[]} of a Gateway or a ListenerSet (the same shape). */
    private static List<Gateway.Listener> listeners(YNode list) {
        final List<Gateway.Listener> listeners = new ArrayList<>();
        for (YNode l : list.list()) {
            l.known(Set.of("name", "hostname", "port", "protocol", "tls", "allowedRoutes"));
            final Integer port = l.get("port").integer();
            if (port == null && !l.get("port").present()) {
                l.get("port").error("Required", "required field is missing");
            }
            Gateway.TLSConfig tls = null;
            final YNode t = l.get("tls");
            if (t.present()) {
                final List<Gateway.SecretObjectReference> refs = new ArrayList<>();
                for (YNode c : t.get("certificateRefs").list()) {
                    refs.add(new Gateway.SecretObjectReference(c.get("group").str(""), c.get("kind").str("Secret"),
                            c.get("namespace").str(), c.get("name").str("")));
                }
                tls = new Gateway.TLSConfig(t.get("mode").str("Terminate"), refs, t.get("options").stringMap());
            }
            final YNode ar = l.get("allowedRoutes");
            final YNode ns = ar.get("namespaces");
            LabelSelector sel = null;
            if (ns.get("selector").present()) {
                sel = selector(ns.get("selector"));
            }
            final List<Gateway.RouteGroupKind> kinds = new ArrayList<>();
            for (YNode k : ar.get("kinds").list()) {
                kinds.add(new Gateway.RouteGroupKind(k.get("group").str(GW_GROUP), k.get("kind").str("")));
            }
            listeners.add(new Gateway.Listener(l.get("name").required(), l.get("hostname").str(),
                    port == null ? 0 : port, l.get("protocol").required(), tls,
                    new Gateway.AllowedRoutes(ns.get("from").str("Same"), sel, kinds)));
        }
        return listeners;
    }

    private static ListenerSet listenerSet(YNode n, String apiVersion, YNode.Ctx ctx) {
        n.known(TOP);
        final ObjectMeta meta = meta(n, ctx, true);
        final YNode spec = n.get("spec").known(Set.of("parentRef", "listeners"));
        final YNode p = spec.get("parentRef").known(Set.of("group", "kind", "namespace", "name"));
        final ListenerSet.ParentGatewayReference parent = new ListenerSet.ParentGatewayReference(
                p.get("group").str(GW_GROUP), p.get("kind").str("Gateway"), p.get("namespace").str(),
                p.get("name").required());
        return new ListenerSet(apiVersion, meta, source(ctx, n), parent, listeners(spec.get("listeners")));
    }

    /** {@code spec.tls.frontend}, or null when absent. */
    private static Gateway.FrontendTLS frontendTls(YNode tls) {
        tls.known(Set.of("frontend", "backend"));
        final YNode f = tls.get("frontend");
        if (!f.present()) {
            return null;
        }
        f.known(Set.of("default", "perPort"));
        final Gateway.FrontendValidation def = frontendValidation(f.get("default").known(Set.of("validation"))
                .get("validation"));
        final List<Gateway.PortValidation> perPort = new ArrayList<>();
        for (YNode p : f.get("perPort").list()) {
            p.known(Set.of("port", "tls"));
            final Integer port = p.get("port").integer();
            if (port == null) {
                p.get("port").error("Required", "required field is missing");
                continue;
            }
            perPort.add(new Gateway.PortValidation(port, frontendValidation(p.get("tls").known(Set.of("validation"))
                    .get("validation"))));
        }
        return new Gateway.FrontendTLS(def, perPort);
    }

    /** {@code spec.tls.backend.clientCertificateRef}, or null when absent. */
    private static Gateway.SecretObjectReference backendClientCertificateRef(YNode backend) {
        if (!backend.present()) {
            return null;
        }
        backend.known(Set.of("clientCertificateRef"));
        final YNode r = backend.get("clientCertificateRef");
        if (!r.present()) {
            return null;
        }
        r.known(Set.of("group", "kind", "namespace", "name"));
        return new Gateway.SecretObjectReference(r.get("group").str(""), r.get("kind").str("Secret"),
                r.get("namespace").str(), r.get("name").required());
    }

    private static Gateway.FrontendValidation frontendValidation(YNode v) {
        if (!v.present()) {
            return null;
        }
        v.known(Set.of("caCertificateRefs", "mode"));
        final List<Gateway.ObjectReference> refs = new ArrayList<>();
        for (YNode c : v.get("caCertificateRefs").list()) {
            c.known(Set.of("group", "kind", "namespace", "name"));
            refs.add(new Gateway.ObjectReference(c.get("group").str(""), c.get("kind").str(""),
                    c.get("namespace").str(), c.get("name").required()));
        }
        return new Gateway.FrontendValidation(refs, v.get("mode").str("AllowValidOnly"));
    }

    private static LabelSelector selector(YNode s) {
        final List<LabelSelector.Requirement> reqs = new ArrayList<>();
        for (YNode e : s.get("matchExpressions").list()) {
            reqs.add(new LabelSelector.Requirement(e.get("key").str(""), e.get("operator").str(""),
                    e.get("values").strings()));
        }
        return new LabelSelector(s.get("matchLabels").stringMap(), reqs);
    }

    private static HTTPRoute httpRoute(YNode n, String apiVersion, YNode.Ctx ctx) {
        n.known(TOP);
        final ObjectMeta meta = meta(n, ctx, true);
        final YNode spec = n.get("spec").known(Set.of("parentRefs", "hostnames", "rules"));
        final List<ParentReference> parents = parentRefs(spec.get("parentRefs"));
        final List<HTTPRouteRule> rules = new ArrayList<>();
        for (YNode r : spec.get("rules").list()) {
            r.known(Set.of("name", "matches", "filters", "backendRefs", "timeouts", "retry", "sessionPersistence"));
            final List<HTTPRouteMatch> matches = new ArrayList<>();
            for (YNode m : r.get("matches").list()) {
                m.known(Set.of("path", "headers", "queryParams", "method"));
                final YNode p = m.get("path");
                final HTTPRouteMatch.PathMatch path = p.present()
                        ? new HTTPRouteMatch.PathMatch(p.get("type").str("PathPrefix"), p.get("value").str("/"))
                        : new HTTPRouteMatch.PathMatch("PathPrefix", "/");
                matches.add(new HTTPRouteMatch(path, valueMatches(m.get("headers")),
                        valueMatches(m.get("queryParams")), m.get("method").str()));
            }
            final List<HTTPBackendRef> backends = new ArrayList<>();
            for (YNode b : r.get("backendRefs").list()) {
                backends.add(backendRef(b));
            }
            HTTPRouteRule.Timeouts timeouts = null;
            if (r.get("timeouts").present()) {
                final YNode t = r.get("timeouts");
                timeouts = new HTTPRouteRule.Timeouts(t.get("request").str(), t.get("backendRequest").str());
            }
            HTTPRouteRule.Retry retry = null;
            if (r.get("retry").present()) {
                final YNode t = r.get("retry");
                final List<Integer> codes = new ArrayList<>();
                for (YNode c : t.get("codes").list()) {
                    final Integer code = c.integer();
                    if (code != null) {
                        codes.add(code);
                    }
                }
                retry = new HTTPRouteRule.Retry(List.copyOf(codes), t.get("attempts").integer(),
                        t.get("backoff").str());
            }
            rules.add(new HTTPRouteRule(r.get("name").str(), List.copyOf(matches), filters(r.get("filters")),
                    List.copyOf(backends), timeouts, retry));
        }
        return new HTTPRoute(apiVersion, meta, source(ctx, n), parents, spec.get("hostnames").strings(),
                List.copyOf(rules));
    }

    private static List<ParentReference> parentRefs(YNode list) {
        final List<ParentReference> parents = new ArrayList<>();
        for (YNode p : list.list()) {
            p.known(Set.of("group", "kind", "namespace", "name", "sectionName", "port"));
            parents.add(new ParentReference(p.get("group").str(GW_GROUP), p.get("kind").str("Gateway"),
                    p.get("namespace").str(), p.get("name").required(), p.get("sectionName").str(),
                    p.get("port").integer()));
        }
        return List.copyOf(parents);
    }

    private static GRPCRoute grpcRoute(YNode n, String apiVersion, YNode.Ctx ctx) {
        n.known(TOP);
        final ObjectMeta meta = meta(n, ctx, true);
        final YNode spec = n.get("spec").known(Set.of("parentRefs", "hostnames", "rules"));
        final List<GRPCRoute.Rule> rules = new ArrayList<>();
        for (YNode r : spec.get("rules").list()) {
            r.known(Set.of("name", "matches", "filters", "backendRefs", "sessionPersistence"));
            final List<GRPCRoute.Match> matches = new ArrayList<>();
            for (YNode m : r.get("matches").list()) {
                m.known(Set.of("method", "headers"));
                final YNode mm = m.get("method");
                final GRPCRoute.MethodMatch method = mm.present() ? new GRPCRoute.MethodMatch(
                        mm.get("type").str("Exact"), mm.get("service").str(), mm.get("method").str()) : null;
                matches.add(new GRPCRoute.Match(method, valueMatches(m.get("headers"))));
            }
            final List<HTTPBackendRef> backends = new ArrayList<>();
            for (YNode b : r.get("backendRefs").list()) {
                backends.add(backendRef(b));
            }
            rules.add(new GRPCRoute.Rule(r.get("name").str(), matches, filters(r.get("filters")), backends));
        }
        return new GRPCRoute(apiVersion, meta, source(ctx, n), parentRefs(spec.get("parentRefs")),
                spec.get("hostnames").strings(), rules);
    }

    private static L4Route l4Route(YNode n, String apiVersion, String kind, YNode.Ctx ctx) {
        n.known(TOP);
        final ObjectMeta meta = meta(n, ctx, true);
        final YNode spec = n.get("spec").known(Set.of("parentRefs", "hostnames", "rules", "useDefaultGateways"));
        final List<L4Route.Rule> rules = new ArrayList<>();
        for (YNode r : spec.get("rules").list()) {
            r.known(Set.of("name", "backendRefs"));
            final List<HTTPBackendRef> backends = new ArrayList<>();
            for (YNode b : r.get("backendRefs").list()) {
                backends.add(backendRef(b));
            }
            rules.add(new L4Route.Rule(r.get("name").str(), backends));
        }
        return new L4Route(apiVersion, kind, meta, source(ctx, n), parentRefs(spec.get("parentRefs")),
                spec.get("hostnames").strings(), rules);
    }

    private static BackendTLSPolicy backendTLSPolicy(YNode n, String apiVersion, YNode.Ctx ctx) {
        n.known(TOP);
        final ObjectMeta meta = meta(n, ctx, true);
        final YNode spec = n.get("spec").known(Set.of("targetRefs", "validation", "options"));
        final List<BackendTLSPolicy.TargetRef> targets = new ArrayList<>();
        for (YNode t : spec.get("targetRefs").list()) {
            targets.add(new BackendTLSPolicy.TargetRef(t.get("group").str(""), t.get("kind").str("Service"),
                    t.get("name").required(), t.get("sectionName").str()));
        }
        final YNode v = spec.get("validation").known(Set.of("caCertificateRefs", "wellKnownCACertificates",
                "hostname", "subjectAltNames"));
        final List<BackendTLSPolicy.CARef> cas = new ArrayList<>();
        for (YNode c : v.get("caCertificateRefs").list()) {
            cas.add(new BackendTLSPolicy.CARef(c.get("group").str(""), c.get("kind").str("ConfigMap"),
                    c.get("name").required()));
        }
        final List<BackendTLSPolicy.SubjectAltName> sans = new ArrayList<>();
        for (YNode s : v.get("subjectAltNames").list()) {
            sans.add(new BackendTLSPolicy.SubjectAltName(s.get("type").str(""), s.get("hostname").str(),
                    s.get("uri").str()));
        }
        return new BackendTLSPolicy(apiVersion, meta, source(ctx, n), targets, new BackendTLSPolicy.Validation(cas,
                v.get("wellKnownCACertificates").str(), v.get("hostname").str(), sans),
                spec.get("options").stringMap());
    }

    private static Secret secret(YNode n, String apiVersion, YNode.Ctx ctx) {
        final ObjectMeta meta = meta(n, ctx, true);
        final Map<String, byte[]> data = new java.util.LinkedHashMap<>();
        final YNode d = n.get("data");
        for (Map.Entry<String, String> e : d.stringMap().entrySet()) {
            try {
                data.put(e.getKey(), java.util.Base64.getMimeDecoder().decode(e.getValue()));
            } catch (IllegalArgumentException ex) {
                d.get(e.getKey()).error("InvalidValue", "not valid base64: " + ex.getMessage());
            }
        }
        for (Map.Entry<String, String> e : n.get("stringData").stringMap().entrySet()) {
            data.put(e.getKey(), e.getValue().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        return new Secret(apiVersion, meta, source(ctx, n), n.get("type").str("Opaque"),
                java.util.Collections.unmodifiableMap(data));
    }

    private static ConfigMap configMap(YNode n, String apiVersion, YNode.Ctx ctx) {
        final ObjectMeta meta = meta(n, ctx, true);
        return new ConfigMap(apiVersion, meta, source(ctx, n), n.get("data").stringMap());
    }

    private static HTTPBackendRef backendRef(YNode b) {
        b.known(Set.of("group", "kind", "namespace", "name", "port", "weight", "filters"));
        final Integer weight = b.get("weight").integer();
        return new HTTPBackendRef(b.get("group").str(""), b.get("kind").str("Service"), b.get("namespace").str(),
                b.get("name").required(), b.get("port").integer(), weight == null ? 1 : weight,
                filters(b.get("filters")));
    }

    private static List<HTTPRouteMatch.ValueMatch> valueMatches(YNode list) {
        final List<HTTPRouteMatch.ValueMatch> out = new ArrayList<>();
        for (YNode h : list.list()) {
            out.add(new HTTPRouteMatch.ValueMatch(h.get("type").str("Exact"), h.get("name").required(),
                    h.get("value").str("")));
        }
        return List.copyOf(out);
    }

    private static List<HTTPRouteFilter> filters(YNode list) {
        final List<HTTPRouteFilter> out = new ArrayList<>();
        for (YNode f : list.list()) {
            final String type = f.get("type").required();
            out.add(new HTTPRouteFilter(type == null ? "" : type, headerModifier(f.get("requestHeaderModifier")),
                    headerModifier(f.get("responseHeaderModifier")), redirect(f.get("requestRedirect")),
                    rewrite(f.get("urlRewrite")), mirror(f.get("requestMirror")), extension(f.get("extensionRef")),
                    cors(f.get("cors"))));
        }
        return List.copyOf(out);
    }

    private static HTTPRouteFilter.HeaderModifier headerModifier(YNode h) {
        if (!h.present()) {
            return null;
        }
        return new HTTPRouteFilter.HeaderModifier(headers(h.get("set")), headers(h.get("add")),
                h.get("remove").strings());
    }

    private static List<HTTPRouteFilter.Header> headers(YNode list) {
        final List<HTTPRouteFilter.Header> out = new ArrayList<>();
        for (YNode h : list.list()) {
            out.add(new HTTPRouteFilter.Header(h.get("name").required(), h.get("value").str("")));
        }
        return List.copyOf(out);
    }

    private static HTTPRouteFilter.PathModifier pathModifier(YNode p) {
        if (!p.present()) {
            return null;
        }
        return new HTTPRouteFilter.PathModifier(p.get("type").required(), p.get("replaceFullPath").str(),
                p.get("replacePrefixMatch").str());
    }

    private static HTTPRouteFilter.RequestRedirect redirect(YNode r) {
        if (!r.present()) {
            return null;
        }
        return new HTTPRouteFilter.RequestRedirect(r.get("scheme").str(), r.get("hostname").str(),
                pathModifier(r.get("path")), r.get("port").integer(), r.get("statusCode").integer());
    }

    private static HTTPRouteFilter.URLRewrite rewrite(YNode r) {
        if (!r.present()) {
            return null;
        }
        return new HTTPRouteFilter.URLRewrite(r.get("hostname").str(), pathModifier(r.get("path")));
    }

    private static HTTPRouteFilter.RequestMirror mirror(YNode r) {
        if (!r.present()) {
            return null;
        }
        final YNode fr = r.get("fraction");
        return new HTTPRouteFilter.RequestMirror(backendRef(r.get("backendRef")), r.get("percent").integer(),
                fr.get("numerator").integer(), fr.get("denominator").integer());
    }

    private static HTTPRouteFilter.CORS cors(YNode c) {
        if (!c.present()) {
            return null;
        }
        c.known(Set.of("allowOrigins", "allowMethods", "allowHeaders", "exposeHeaders", "allowCredentials",
                "maxAge"));
        return new HTTPRouteFilter.CORS(c.get("allowOrigins").strings(), c.get("allowMethods").strings(),
                c.get("allowHeaders").strings(), c.get("exposeHeaders").strings(),
                Boolean.TRUE.equals(c.get("allowCredentials").bool()), c.get("maxAge").integer());
    }

    private static HTTPRouteFilter.ExtensionRef extension(YNode r) {
        if (!r.present()) {
            return null;
        }
        return new HTTPRouteFilter.ExtensionRef(r.get("group").str(""), r.get("kind").str(""),
                r.get("name").str(""));
    }

    private static ReferenceGrant referenceGrant(YNode n, String apiVersion, YNode.Ctx ctx) {
        n.known(TOP);
        final ObjectMeta meta = meta(n, ctx, true);
        final YNode spec = n.get("spec").known(Set.of("from", "to"));
        final List<ReferenceGrant.From> from = new ArrayList<>();
        for (YNode f : spec.get("from").list()) {
            from.add(new ReferenceGrant.From(f.get("group").str(""), f.get("kind").required(),
                    f.get("namespace").required()));
        }
        final List<ReferenceGrant.To> to = new ArrayList<>();
        for (YNode t : spec.get("to").list()) {
            to.add(new ReferenceGrant.To(t.get("group").str(""), t.get("kind").required(), t.get("name").str()));
        }
        return new ReferenceGrant(apiVersion, meta, source(ctx, n), from, to);
    }

    private static Service service(YNode n, String apiVersion, YNode.Ctx ctx) {
        final ObjectMeta meta = meta(n, ctx, true);
        final YNode spec = n.get("spec");
        final List<Service.ServicePort> ports = new ArrayList<>();
        for (YNode p : spec.get("ports").list()) {
            final Integer port = p.get("port").integer();
            if (port == null) {
                p.get("port").error("Required", "a Service port needs a port number");
                continue;
            }
            final String target = p.get("targetPort").intOrString();
            ports.add(new Service.ServicePort(p.get("name").str(""), port,
                    target == null ? String.valueOf(port) : target, p.get("protocol").str("TCP"),
                    p.get("appProtocol").str()));
        }
        return new Service(apiVersion, meta, source(ctx, n), spec.get("type").str("ClusterIP"), ports);
    }

    private static EndpointSlice endpointSlice(YNode n, String apiVersion, YNode.Ctx ctx) {
        final ObjectMeta meta = meta(n, ctx, true);
        final List<EndpointSlice.Endpoint> eps = new ArrayList<>();
        for (YNode e : n.get("endpoints").list()) {
            final YNode c = e.get("conditions");
            eps.add(new EndpointSlice.Endpoint(e.get("addresses").strings(), c.get("ready").bool(),
                    c.get("serving").bool(), c.get("terminating").bool()));
        }
        final List<EndpointSlice.EndpointPort> ports = new ArrayList<>();
        for (YNode p : n.get("ports").list()) {
            ports.add(new EndpointSlice.EndpointPort(p.get("name").str(""), p.get("port").integer(),
                    p.get("protocol").str("TCP"), p.get("appProtocol").str()));
        }
        return new EndpointSlice(apiVersion, meta, source(ctx, n), n.get("addressType").str("IPv4"), eps, ports);
    }

    private static Namespace namespace(YNode n, String apiVersion, YNode.Ctx ctx) {
        return new Namespace(apiVersion, meta(n, ctx, false), source(ctx, n));
    }
}
