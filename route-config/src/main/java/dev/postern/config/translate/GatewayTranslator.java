package dev.postern.config.translate;

import static java.util.Objects.requireNonNull;

import dev.postern.config.diag.Diagnostic;
import dev.postern.config.diag.Severity;
import dev.postern.config.gatewayapi.BackendTLSPolicy;
import dev.postern.config.gatewayapi.ConfigInput;
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
import dev.postern.config.gatewayapi.ListenerSet;
import dev.postern.config.gatewayapi.Namespace;
import dev.postern.config.gatewayapi.ParentReference;
import dev.postern.config.gatewayapi.ReferenceGrant;
import dev.postern.config.gatewayapi.Resource;
import dev.postern.config.gatewayapi.Service;
import dev.postern.config.model.ListenerModel;
import dev.postern.config.model.RouteModel;
import dev.postern.config.runtime.Backend;
import dev.postern.config.runtime.Cluster;
import dev.postern.config.runtime.CorsPolicy;
import dev.postern.config.runtime.Endpoint;
import dev.postern.config.runtime.HealthCheck;
import dev.postern.config.runtime.HeaderMutation;
import dev.postern.config.runtime.PathModifier;
import dev.postern.config.runtime.RouteAction;
import dev.postern.config.runtime.TableDump;
import dev.postern.config.status.Condition;
import dev.postern.config.status.ResourceStatus;
import dev.postern.config.tls.CertificateKeyPair;
import dev.postern.config.tls.ClientValidation;
import dev.postern.config.tls.Pem;
import dev.postern.config.tls.UpstreamTls;

import com.google.re2j.Pattern;
import com.google.re2j.PatternSyntaxException;

import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.Comparator;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Translates Gateway API records into the listener/route model, resolving attachment (parentRefs, sectionName,
 * port, allowedRoutes, hostname intersection), ReferenceGrants and backends, and computing status on the way.
 *
 * <p>Invalid references degrade one rule (a direct 500 for their share of traffic, {@code ResolvedRefs=False});
 * they never take down the rest. Thread-safety: one instance per build; not shared.
 */
public final class GatewayTranslator {
    /** The Gateway API group. */
    public static final String GW_GROUP = "gateway.networking.k8s.io";

    /** The result of a translation. */
    public record Result(List<ListenerModel> listeners, List<ResourceStatus> statuses, List<Diagnostic> diagnostics) {
    }

    private final ConfigInput in;
    private final String controllerName;
    private final String defaultBindAddress;
    private final List<Diagnostic> diags = new ArrayList<>();
    private final List<ResourceStatus> statuses = new ArrayList<>();
    /** Route parent status stanzas by content, shared between routes (see routeParentStatus). */
    private final Map<ParentStatusKey, Map<String, Object>> parentStatuses = new HashMap<>();
    private final Map<String, Service> services = new HashMap<>();
    private final Map<String, List<EndpointSlice>> slicesByService = new HashMap<>();
    private final Map<String, Namespace> namespaces = new HashMap<>();

    /** A listener being built, with its state for status. */
    private static final class LState {
        final Gateway gw;
        /** The ListenerSet this listener comes from, or null for the Gateway's own. */
        final ListenerSet set;
        final Gateway.Listener l;
        final String name;
        final List<String> addresses;
        boolean accepted = true;
        boolean programmed = true;
        final List<Condition> conditions = new ArrayList<>();
        final List<Map<String, Object>> supportedKinds = new ArrayList<>();
        final Set<String> allowedKinds = new LinkedHashSet<>();
        int attached;
        final List<RouteModel> routes = new ArrayList<>();
        final List<CertificateKeyPair> certificates = new ArrayList<>();
        ClientValidation clientValidation;

        LState(Gateway gw, ListenerSet set, Gateway.Listener l, List<String> addresses) {
            this.gw = gw;
            this.set = set;
            this.l = l;
            // A ListenerSet's listener names are unique only within the set: its data-plane name carries the set
            // (':' cannot appear in Kubernetes names), keeping the five '/' segments the metrics labels split on.
            this.name = "gateway/" + gw.metadata().namespace() + "/" + gw.metadata().name() + "/listener/"
                    + (set == null ? l.name() : "listenerset:" + set.metadata().namespace() + ":"
                    + set.metadata().name() + ":" + l.name());
            this.addresses = addresses;
        }

        /** The resource the listener is written in (the Gateway or the ListenerSet). */
        Resource owner() {
            return set == null ? gw : set;
        }

        /** The namespace of {@link #owner()}: the one allowedRoutes "Same" and certificateRefs default to. */
        String ownerNamespace() {
            return owner().metadata().namespace();
        }

        /** Accepted and programmed: the listener serves traffic (if its Gateway does). */
        boolean valid() {
            return accepted && programmed;
        }
    }

    /** A ListenerSet whose parentRef names one of our Gateways, with its translation state. */
    private static final class SetState {
        final ListenerSet set;
        final GState parent;
        /** Accepted=False reason (NotAllowed, ParentNotAccepted), or null when admitted by the Gateway. */
        String rejected;
        final List<LState> listeners = new ArrayList<>();

        SetState(ListenerSet set, GState parent) {
            this.set = set;
            this.parent = parent;
        }

        boolean accepted() {
            return rejected == null && listeners.stream().anyMatch(LState::valid);
        }
    }

    private final Map<String, GState> gateways = new LinkedHashMap<>();
    /** ListenerSets attached to one of our Gateways (admitted or not), by {@code ns/name}. */
    private final Map<String, SetState> listenerSets = new LinkedHashMap<>();
    private final Map<String, Secret> secrets = new HashMap<>();
    private final Map<String, ConfigMap> configMaps = new HashMap<>();
    /** BackendTLSPolicies in effect, by {@code ns/service} and then {@code ns/service/sectionName}. */
    private final Map<String, PolicyState> tlsPolicyByTarget = new HashMap<>();

    /** What makes two backendRefs the same cluster within one build. */
    private record ClusterKey(String name, Cluster.Protocol protocol, UpstreamTls tls) {
    }

    private final Map<ClusterKey, Backend.Forward> clusters = new HashMap<>();
    /** Every BackendTLSPolicy of the input with its translation state, in input order. */
    private final List<PolicyState> tlsPolicies = new ArrayList<>();
    /** The Services ({@code ns/name}) the route being resolved uses (filled by resolveBackend). */
    private final Set<String> servicesOfRoute = new LinkedHashSet<>();
    /** Every policy (winning or not) by the Service it targets ({@code ns/name}), for policy status ancestors. */
    private final Map<String, List<PolicyState>> policiesByService = new HashMap<>();

    private GatewayTranslator(ConfigInput in, String controllerName, String defaultBindAddress) {
        this.in = in;
        this.controllerName = controllerName;
        this.defaultBindAddress = defaultBindAddress;
    }

    /**
     * Translates the input.
     *
     * @param in everything read
     * @param controllerName the GatewayClass controllerName this Postern serves
     * @param defaultBindAddress the IP literal bound for Gateways without {@code spec.addresses}
     */
    public static Result translate(ConfigInput in, String controllerName, String defaultBindAddress) {
        requireNonNull(in, "in");
        requireNonNull(controllerName, "controllerName");
        requireNonNull(defaultBindAddress, "defaultBindAddress");
        return new GatewayTranslator(in, controllerName, defaultBindAddress).run();
    }

    private Result run() {
        for (Service s : in.services()) {
            services.put(s.metadata().namespace() + "/" + s.metadata().name(), s);
        }
        for (EndpointSlice e : in.endpointSlices()) {
            final String svc = e.metadata().labels().get(EndpointSlice.SERVICE_NAME_LABEL);
            if (svc == null) {
                warn(e, "metadata.labels", "MissingServiceName", "EndpointSlice has no label "
                        + EndpointSlice.SERVICE_NAME_LABEL + "; it belongs to no Service and is ignored");
                continue;
            }
            slicesByService.computeIfAbsent(e.metadata().namespace() + "/" + svc, k -> new ArrayList<>()).add(e);
        }
        for (Namespace n : in.namespaces()) {
            namespaces.put(n.metadata().name(), n);
        }
        for (Secret sec : in.secrets()) {
            secrets.put(sec.metadata().namespace() + "/" + sec.metadata().name(), sec);
        }
        for (ConfigMap cm : in.configMaps()) {
            configMaps.put(cm.metadata().namespace() + "/" + cm.metadata().name(), cm);
        }
        resolveBackendTlsPolicies();
        final Set<String> ourClasses = new LinkedHashSet<>();
        for (GatewayClass gc : in.gatewayClasses()) {
            if (controllerName.equals(gc.controllerName())) {
                ourClasses.add(gc.metadata().name());
                final long g = gc.metadata().generation();
                statuses.add(new ResourceStatus(gc.apiVersion(), "GatewayClass", "", gc.metadata().name(), g,
                        Map.of("conditions", List.of(Condition.ok("Accepted", "Accepted",
                                "Handled by " + controllerName, g).toMap()))));
            }
        }
        for (Gateway gw : in.gateways()) {
            if (ourClasses.contains(gw.gatewayClassName())) {
                translateGateway(gw);
            }
        }
        for (HTTPRoute r : in.httpRoutes()) {
            translateRoute(httpRouteIn(r));
        }
        for (GRPCRoute r : in.grpcRoutes()) {
            translateRoute(grpcRouteIn(r));
        }
        for (L4Route r : in.l4Routes()) {
            if ("TLSRoute".equals(r.kind()) || "TCPRoute".equals(r.kind()) || "UDPRoute".equals(r.kind())) {
                translateRoute(tlsRouteIn(r));
            }
        }
        final List<ListenerModel> out = new ArrayList<>();
        for (GState st : gateways.values()) {
            final List<LState> all = new ArrayList<>(st.listeners);
            for (SetState ss : st.sets) {
                if (ss.accepted()) {
                    all.addAll(ss.listeners);
                }
            }
            for (LState l : all) {
                if (l.valid() && !st.invalidParameters) {
                    out.add(new ListenerModel(l.name, l.l.protocol(), lower(l.l.hostname()), l.addresses,
                            l.l.port(), List.copyOf(l.routes), List.copyOf(l.certificates), l.clientValidation));
                }
            }
            statuses.add(gatewayStatus(st.gw, st));
            for (SetState ss : st.sets) {
                statuses.add(listenerSetStatus(ss));
            }
        }
        for (PolicyState ps : tlsPolicies) {
            if (!ps.ancestors.isEmpty()) {
                statuses.add(ps.status(controllerName));
            }
        }
        return new Result(out, List.copyOf(statuses), List.copyOf(diags));
    }

    // ---------------------------------------------------------------------------------------------------------
    // Gateways

    private static final Set<String> SERVED_PROTOCOLS = Set.of("HTTP", "HTTPS", "TLS", "TCP", "UDP");

    /** The route kinds a listener protocol can carry. */
    private static List<String> routeKinds(String protocol) {
        return switch (protocol) {
            case "HTTP", "HTTPS" -> List.of("HTTPRoute", "GRPCRoute");
            case "TLS" -> List.of("TLSRoute");
            case "TCP" -> List.of("TCPRoute");
            case "UDP" -> List.of("UDPRoute");
            default -> List.of();
        };
    }

    private void translateGateway(Gateway gw) {
        final List<String> addrs = new ArrayList<>();
        for (int i = 0; i < gw.addresses().size(); i++) {
            final Gateway.GatewayAddress a = gw.addresses().get(i);
            if (!a.type().equals("IPAddress")) {
                warn(gw, "spec.addresses[" + i + "].type", "UnsupportedAddress",
                        "address type " + a.type() + " is not supported in static mode; only IPAddress is bound");
                continue;
            }
            if (!isIpLiteral(a.value())) {
                error(gw, "spec.addresses[" + i + "].value", "UnsupportedAddress",
                        "\"" + a.value() + "\" is not an IP address");
                continue;
            }
            addrs.add(a.value());
        }
        if (addrs.isEmpty()) {
            addrs.add(defaultBindAddress);
        }
        final List<LState> ls = new ArrayList<>();
        final Set<String> names = new LinkedHashSet<>();
        final Map<Integer, FrontendResult> frontendByPort = new HashMap<>();
        for (int i = 0; i < gw.listeners().size(); i++) {
            ls.add(listener(gw, null, i, List.copyOf(addrs), names, frontendByPort));
        }
        final long g = gw.metadata().generation();
        // Conflicts: same port, different protocol; or same port, protocol and hostname.
        for (int i = 0; i < ls.size(); i++) {
            final LState a = ls.get(i);
            for (int j = 0; j < i; j++) {
                final LState b = ls.get(j);
                if (a.l.port() != b.l.port() || !a.accepted || !b.accepted) {
                    continue;
                }
                String reason = null;
                if (!a.l.protocol().equals(b.l.protocol())) {
                    reason = "ProtocolConflict";
                } else if (eq(lower(a.l.hostname()), lower(b.l.hostname()))) {
                    reason = "HostnameConflict";
                }
                if (reason != null) {
                    for (LState s : List.of(a, b)) {
                        if (s.conditions.stream().noneMatch(c -> c.type().equals("Conflicted"))) {
                            s.conditions.add(Condition.ok("Conflicted", reason, "conflicts with listener "
                                    + (s == a ? b : a).l.name() + " on port " + a.l.port(), g));
                        }
                        s.programmed = false;
                    }
                    warn(gw, "spec.listeners[" + i + "]", reason, "listener " + a.l.name()
                            + " conflicts with listener " + b.l.name() + " on port " + a.l.port());
                }
            }
        }
        final GState st = new GState(gw, ls, List.copyOf(addrs));
        st.insecureFrontend = gw.frontendTls() != null && (insecure(gw.frontendTls().defaultValidation())
                || gw.frontendTls().perPort().stream().anyMatch(p -> insecure(p.validation())));
        if (gw.infrastructureParametersRef() != null) {
            // Postern defines no parameters kind, so any reference is one it cannot resolve.
            final Gateway.LocalParametersReference p = gw.infrastructureParametersRef();
            warn(gw, "spec.infrastructure.parametersRef", "InvalidParameters", "parametersRef " + p.group() + "/"
                    + p.kind() + " " + p.name() + " cannot be resolved; the Gateway is not accepted");
            st.invalidParameters = true;
        }
        resolveBackendClientCertificate(gw, st, g);
        gateways.put(gw.metadata().namespace() + "/" + gw.metadata().name(), st);
        attachListenerSets(gw, st, frontendByPort);
    }

    /**
     * Validates one listener of a Gateway ({@code set} null) or of a ListenerSet attached to it: name, port,
     * hostname, protocol, supported kinds, certificates and the Gateway's frontend validation for its port.
     */
    private LState listener(Gateway gw, ListenerSet set, int i, List<String> addrs, Set<String> names,
                            Map<Integer, FrontendResult> frontendByPort) {
        final Gateway.Listener l = (set == null ? gw.listeners() : set.listeners()).get(i);
        final LState s = new LState(gw, set, l, addrs);
        final Resource owner = s.owner();
        final long g = owner.metadata().generation();
        final String field = "spec.listeners[" + i + "]";
        if (!names.add(l.name())) {
            error(owner, field + ".name", "Duplicate", "duplicate listener name " + l.name());
            s.accepted = false;
        }
        if (l.port() < 1 || l.port() > 65535) {
            error(owner, field + ".port", "UnsupportedValue", "port must be 1-65535, got " + l.port());
            s.accepted = false;
        }
        if (l.hostname() != null && !validHostname(l.hostname())) {
            error(owner, field + ".hostname", "InvalidHostname", "\"" + l.hostname()
                    + "\" is not a valid hostname (lower-case DNS name, optionally with a leading *.)");
            s.accepted = false;
            s.conditions.add(Condition.no("Accepted", "UnsupportedValue", "invalid hostname", g));
        }
        if (!SERVED_PROTOCOLS.contains(l.protocol())) {
            warn(owner, field + ".protocol", "UnsupportedProtocol", "protocol " + l.protocol()
                    + " is not served by this version of Postern; the listener is not programmed");
            s.accepted = false;
            s.conditions.add(Condition.no("Accepted", "UnsupportedProtocol",
                    "protocol " + l.protocol() + " is not supported", g));
        } else if ("TLS".equals(l.protocol()) && l.tls() == null) {
            warn(owner, field + ".tls", "UnsupportedValue", "a TLS listener needs tls (mode Passthrough, or "
                    + "Terminate with certificateRefs); the listener is not programmed");
            supportedKinds(owner, field, s, g);
            s.programmed = false;
            s.conditions.add(Condition.no("Accepted", "UnsupportedValue", "a TLS listener needs tls", g));
        } else {
            supportedKinds(owner, field, s, g);
            if ("HTTPS".equals(l.protocol())
                    || ("TLS".equals(l.protocol()) && "Terminate".equals(l.tls().mode()))) {
                // TLS Terminate: Postern ends TLS with these certificates and sends the plain stream on (TCP).
                resolveCertificates(owner, field, s, g);
                applyFrontendValidation(s, g, frontendByPort.computeIfAbsent(l.port(),
                        port -> frontendValidation(gw, port)));
            }
        }
        return s;
    }

    /** Whether {@code spec.allowedListeners} of the Gateway admits ListenerSets of namespace {@code ns}. */
    private boolean listenerSetAllowed(Gateway gw, String ns) {
        final Gateway.AllowedListeners a = gw.allowedListeners();
        return switch (a.from()) {
            case "All" -> true;
            case "Same" -> ns.equals(gw.metadata().namespace());
            case "Selector" -> a.selector() != null && a.selector().matches(namespaceLabels(ns));
            default -> false; // None, the default
        };
    }

    /**
     * Attaches the ListenerSets whose parentRef names this Gateway. Admitted ones (allowedListeners) are merged
     * after the Gateway's own listeners, oldest first (creationTimestamp, then namespace/name); a listener that
     * conflicts with one earlier in that order (same port and a different protocol, or the same protocol and
     * hostname) is not accepted, with Conflicted=True, so the Gateway's own listeners always win.
     */
    private void attachListenerSets(Gateway gw, GState st, Map<Integer, FrontendResult> frontendByPort) {
        final List<ListenerSet> mine = new ArrayList<>();
        for (ListenerSet set : in.listenerSets()) {
            final ListenerSet.ParentGatewayReference p = set.parentRef();
            final String pns = p.namespace() != null ? p.namespace() : set.metadata().namespace();
            if (GW_GROUP.equals(p.group()) && "Gateway".equals(p.kind()) && gw.metadata().name().equals(p.name())
                    && gw.metadata().namespace().equals(pns)) {
                mine.add(set);
            }
        }
        mine.sort(java.util.Comparator.comparing((ListenerSet x) -> x.metadata().creationTimestamp())
                .thenComparing(x -> x.metadata().namespace()).thenComparing(x -> x.metadata().name()));
        final List<LState> live = new ArrayList<>();
        for (LState s : st.listeners) {
            if (s.accepted) {
                live.add(s);
            }
        }
        for (ListenerSet set : mine) {
            final SetState ss = new SetState(set, st);
            final String key = set.metadata().namespace() + "/" + set.metadata().name();
            listenerSets.put(key, ss);
            st.sets.add(ss);
            if (!listenerSetAllowed(gw, set.metadata().namespace())) {
                ss.rejected = "NotAllowed";
                warn(set, "spec.parentRef", "NotAllowed", "Gateway " + gw.metadata().namespace() + "/"
                        + gw.metadata().name() + " does not allow ListenerSets from namespace "
                        + set.metadata().namespace() + " (spec.allowedListeners.namespaces.from is "
                        + gw.allowedListeners().from() + ")");
                continue;
            }
            if (!st.accepted()) {
                ss.rejected = "ParentNotAccepted";
                continue;
            }
            final long g = set.metadata().generation();
            final Set<String> names = new LinkedHashSet<>();
            for (int i = 0; i < set.listeners().size(); i++) {
                final LState s = listener(gw, set, i, st.addresses, names, frontendByPort);
                ss.listeners.add(s);
                if (!s.accepted) {
                    continue;
                }
                for (LState earlier : live) {
                    if (earlier.l.port() != s.l.port()) {
                        continue;
                    }
                    final String reason = !earlier.l.protocol().equals(s.l.protocol()) ? "ProtocolConflict"
                            : eq(lower(earlier.l.hostname()), lower(s.l.hostname())) ? "HostnameConflict" : null;
                    if (reason != null) {
                        final String msg = "conflicts with listener " + earlier.l.name() + " of "
                                + earlier.owner().kind() + " " + earlier.ownerNamespace() + "/"
                                + earlier.owner().metadata().name() + " on port " + s.l.port()
                                + ", which takes precedence";
                        s.conditions.add(0, Condition.ok("Conflicted", reason, msg, g));
                        s.conditions.add(0, Condition.no("Programmed", reason, msg, g));
                        s.conditions.add(0, Condition.no("Accepted", reason, msg, g));
                        s.accepted = false;
                        s.programmed = false;
                        warn(set, "spec.listeners[" + i + "]", reason, "listener " + s.l.name() + " " + msg
                                + "; it is not accepted");
                        break;
                    }
                }
                if (s.accepted) {
                    live.add(s);
                }
            }
        }
    }

    /** A Gateway being built. */
    private static final class GState {
        final Gateway gw;
        /** The Gateway's own listeners. */
        final List<LState> listeners;
        /** The bound addresses. */
        final List<String> addresses;
        /** The ListenerSets whose parentRef names this Gateway, in precedence order. */
        final List<SetState> sets = new ArrayList<>();
        boolean invalidParameters;
        boolean insecureFrontend;
        /** The certificate presented to TLS backends ({@code spec.tls.backend}), or null. */
        CertificateKeyPair backendClientCertificate;
        /** The Gateway's ResolvedRefs condition when it has {@code spec.tls.backend}, else null. */
        Condition backendRefs;

        GState(Gateway gw, List<LState> listeners, List<String> addresses) {
            this.gw = gw;
            this.listeners = listeners;
            this.addresses = addresses;
        }

        /**
         * Accepted: some own listener is valid, or it has none and admits ListenerSets (its listeners may all come
         * from them).
         */
        boolean accepted() {
            return !invalidParameters && (listeners.stream().anyMatch(l -> l.accepted)
                    || listeners.isEmpty() && !"None".equals(gw.allowedListeners().from()));
        }
    }

    private void resolveCertificates(Resource owner, String field, LState s, long g) {
        final Gateway.TLSConfig tls = s.l.tls();
        if (tls == null || !"Terminate".equals(tls.mode())) {
            final String why = tls == null ? "an " + s.l.protocol() + " listener needs tls.certificateRefs"
                    : "tls.mode " + tls.mode() + " is not valid on an " + s.l.protocol() + " listener";
            warn(owner, field + ".tls", "InvalidCertificateRef", why);
            s.conditions.add(Condition.no("ResolvedRefs", "InvalidCertificateRef", why, g));
            s.programmed = false;
            return;
        }
        String reason = null;
        String message = null;
        for (int i = 0; i < tls.certificateRefs().size(); i++) {
            final Gateway.SecretObjectReference ref = tls.certificateRefs().get(i);
            final String f = field + ".tls.certificateRefs[" + i + "]";
            final String ons = owner.metadata().namespace();
            final String ns = ref.namespace() != null ? ref.namespace() : ons;
            String r = null;
            String m = null;
            if (!(ref.group().isEmpty() || ref.group().equals("core")) || !"Secret".equals(ref.kind())) {
                r = "InvalidCertificateRef";
                m = "certificateRef " + ref.group() + "/" + ref.kind() + " is not a core Secret";
            } else if (!ns.equals(ons) && !granted(ons, owner.kind(), ns, "", "Secret", ref.name())) {
                r = "RefNotPermitted";
                m = "certificateRef to Secret " + ns + "/" + ref.name() + " is not permitted by any ReferenceGrant";
            } else {
                try {
                    s.certificates.add(tlsSecret(ns, ref.name()));
                } catch (IllegalArgumentException e) {
                    r = "InvalidCertificateRef";
                    m = e.getMessage();
                }
            }
            if (r != null) {
                warn(owner, f, r, m);
                if (reason == null) {
                    reason = r;
                    message = m;
                }
            }
        }
        if (tls.certificateRefs().isEmpty()) {
            reason = "InvalidCertificateRef";
            message = "an " + s.l.protocol() + " listener in Terminate mode needs at least one certificateRef";
        }
        if (reason != null) {
            s.conditions.add(Condition.no("ResolvedRefs", reason, message, g));
            if (s.certificates.isEmpty()) {
                s.programmed = false;
            }
        }
    }

    /**
     * The certificate and key of a TLS Secret ({@code tls.crt}, {@code tls.key}); throws with the reason when the
     * Secret is missing, lacks a key, or does not hold a valid pair.
     */
    private CertificateKeyPair tlsSecret(String ns, String name) {
        final Secret sec = secrets.get(ns + "/" + name);
        if (sec == null) {
            throw new IllegalArgumentException("Secret " + ns + "/" + name + " not found");
        }
        final byte[] crt = sec.data().get("tls.crt");
        final byte[] key = sec.data().get("tls.key");
        if (crt == null || key == null) {
            throw new IllegalArgumentException("Secret " + ns + "/" + name + " has no tls.crt and tls.key");
        }
        try {
            return Pem.pair("secret/" + ns + "/" + name, new String(crt, StandardCharsets.US_ASCII),
                    new String(key, StandardCharsets.US_ASCII));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Secret " + ns + "/" + name + " is not a valid certificate and key: "
                    + e.getMessage(), e);
        }
    }

    /**
     * Resolves {@code spec.tls.backend.clientCertificateRef}: the certificate Postern presents to backends reached
     * over TLS, or the Gateway's ResolvedRefs=False condition (InvalidClientCertificateRef, or RefNotPermitted for
     * a cross-namespace Secret without a ReferenceGrant). An invalid reference leaves the Gateway accepted, and
     * backends then see no client certificate (a backend that requires one refuses the handshake: 502).
     */
    private void resolveBackendClientCertificate(Gateway gw, GState st, long g) {
        final Gateway.SecretObjectReference ref = gw.backendClientCertificateRef();
        if (ref == null) {
            return;
        }
        final String field = "spec.tls.backend.clientCertificateRef";
        final String ns = ref.namespace() != null ? ref.namespace() : gw.metadata().namespace();
        String reason = "InvalidClientCertificateRef";
        String message;
        if (!(ref.group().isEmpty() || ref.group().equals("core")) || !"Secret".equals(ref.kind())) {
            message = "clientCertificateRef " + (ref.group().isEmpty() ? "" : ref.group() + "/") + ref.kind()
                    + " is not supported; only core Secret";
        } else if (!ns.equals(gw.metadata().namespace())
                && !granted(gw.metadata().namespace(), "Gateway", ns, "", "Secret", ref.name())) {
            reason = "RefNotPermitted";
            message = "clientCertificateRef to Secret " + ns + "/" + ref.name()
                    + " is not permitted by any ReferenceGrant";
        } else {
            try {
                st.backendClientCertificate = tlsSecret(ns, ref.name());
                st.backendRefs = Condition.ok("ResolvedRefs", "ResolvedRefs", "All references resolved", g);
                return;
            } catch (IllegalArgumentException e) {
                message = e.getMessage();
            }
        }
        warn(gw, field, reason, message + "; backends see no client certificate from this Gateway");
        st.backendRefs = Condition.no("ResolvedRefs", reason, message, g);
    }

    /**
     * The client certificate validation of one port of a Gateway: the {@code perPort} entry for the port, else the
     * default; its CA references resolved.
     *
     * @param validation the resolved validation, or null when none applies or no reference resolved
     * @param configured whether a validation is configured for the port
     * @param reason the first problem's reason (for ResolvedRefs), or null
     */
    private record FrontendResult(ClientValidation validation, boolean configured, String reason, String message) {
    }

    private static boolean insecure(Gateway.FrontendValidation v) {
        return v != null && "AllowInsecureFallback".equals(v.mode());
    }

    private FrontendResult frontendValidation(Gateway gw, int port) {
        final Gateway.FrontendTLS f = gw.frontendTls();
        if (f == null) {
            return new FrontendResult(null, false, null, null);
        }
        Gateway.FrontendValidation v = f.defaultValidation();
        String field = "spec.tls.frontend.default.validation";
        for (int i = 0; i < f.perPort().size(); i++) {
            if (f.perPort().get(i).port() == port) {
                v = f.perPort().get(i).validation();
                field = "spec.tls.frontend.perPort[" + i + "].tls.validation";
                break;
            }
        }
        if (v == null) {
            return new FrontendResult(null, false, null, null);
        }
        if (!"AllowValidOnly".equals(v.mode()) && !"AllowInsecureFallback".equals(v.mode())) {
            warn(gw, field + ".mode", "UnsupportedValue", "unknown mode " + v.mode()
                    + "; AllowValidOnly is applied");
        }
        final String gns = gw.metadata().namespace();
        final List<X509Certificate> cas = new ArrayList<>();
        String reason = null;
        String message = null;
        for (int i = 0; i < v.caCertificateRefs().size(); i++) {
            final Gateway.ObjectReference ref = v.caCertificateRefs().get(i);
            final String ns = ref.namespace() != null ? ref.namespace() : gns;
            String r = null;
            String m = null;
            if (!(ref.group().isEmpty() || ref.group().equals("core")) || !"ConfigMap".equals(ref.kind())) {
                r = "InvalidCACertificateKind";
                m = "caCertificateRef kind " + (ref.group().isEmpty() ? "" : ref.group() + "/") + ref.kind()
                        + " is not supported; only core ConfigMap";
            } else if (!ns.equals(gns) && !granted(gns, "Gateway", ns, "", "ConfigMap", ref.name())) {
                r = "RefNotPermitted";
                m = "caCertificateRef to ConfigMap " + ns + "/" + ref.name()
                        + " is not permitted by any ReferenceGrant";
            } else {
                try {
                    cas.addAll(caBundle(ns, ref.name()));
                } catch (IllegalArgumentException e) {
                    r = "InvalidCACertificateRef";
                    m = e.getMessage();
                }
            }
            if (r != null) {
                warn(gw, field + ".caCertificateRefs[" + i + "]", r, m);
                if (reason == null) {
                    reason = r;
                    message = m;
                }
            }
        }
        final ClientValidation cv = cas.isEmpty() ? null : new ClientValidation(
                "gateway/" + gns + "/" + gw.metadata().name() + "/port/" + port, cas, insecure(v));
        return new FrontendResult(cv, true, reason, message);
    }

    /** The CA certificates in a ConfigMap's {@code ca.crt}; IllegalArgumentException naming the problem. */
    private List<X509Certificate> caBundle(String ns, String name) {
        final ConfigMap cm = configMaps.get(ns + "/" + name);
        if (cm == null) {
            throw new IllegalArgumentException("ConfigMap " + ns + "/" + name + " not found");
        }
        final String pem = cm.data().get("ca.crt");
        if (pem == null || pem.isBlank()) {
            throw new IllegalArgumentException("ConfigMap " + ns + "/" + name + " has no ca.crt");
        }
        try {
            return Pem.certificates(pem);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("ConfigMap " + ns + "/" + name + " ca.crt is not a PEM CA bundle: "
                    + e.getMessage());
        }
    }

    private static void applyFrontendValidation(LState s, long g, FrontendResult f) {
        if (!f.configured()) {
            return;
        }
        if (f.reason() != null) {
            s.conditions.add(Condition.no("ResolvedRefs", f.reason(), f.message(), g));
        }
        if (f.validation() == null) {
            // Every CA reference is invalid: the spec makes the listener not Accepted, and it is not served.
            s.conditions.add(Condition.no("Accepted", "NoValidCACertificate",
                    "no caCertificateRef of the client certificate validation could be resolved", g));
            s.accepted = false;
            return;
        }
        s.clientValidation = f.validation();
    }

    // ---------------------------------------------------------------------------------------------------------
    // BackendTLSPolicy

    /** A BackendTLSPolicy being translated: its TLS settings, its conditions and the Gateways it applies under. */
    private static final class PolicyState {
        final BackendTLSPolicy p;
        final List<Condition> conditions = new ArrayList<>();
        final Map<String, dev.postern.config.gatewayapi.Gateway> ancestors = new LinkedHashMap<>();
        UpstreamTls tls;
        boolean conflicted;

        PolicyState(BackendTLSPolicy p) {
            this.p = p;
        }

        String key() {
            return "backendtlspolicy/" + p.metadata().namespace() + "/" + p.metadata().name();
        }

        ResourceStatus status(String controllerName) {
            final long g = p.metadata().generation();
            final Map<String, Condition> found = new LinkedHashMap<>();
            if (conflicted) {
                found.put("Accepted", Condition.no("Accepted", "Conflicted",
                        "an older BackendTLSPolicy targets the same Service and section", g));
            }
            for (Condition c : conditions) {
                found.putIfAbsent(c.type(), c);
            }
            final Map<String, Condition> byType = new LinkedHashMap<>();
            byType.put("Accepted", found.getOrDefault("Accepted", Condition.ok("Accepted", "Accepted",
                    "Policy accepted", g)));
            byType.put("ResolvedRefs", found.getOrDefault("ResolvedRefs", Condition.ok("ResolvedRefs",
                    "ResolvedRefs", "All references resolved", g)));
            final List<Object> conds = new ArrayList<>();
            for (Condition c : byType.values()) {
                conds.add(c.toMap());
            }
            final List<Object> out = new ArrayList<>();
            for (dev.postern.config.gatewayapi.Gateway gw : ancestors.values()) {
                final Map<String, Object> ref = new LinkedHashMap<>();
                ref.put("group", GW_GROUP);
                ref.put("kind", "Gateway");
                ref.put("namespace", gw.metadata().namespace());
                ref.put("name", gw.metadata().name());
                final Map<String, Object> a = new LinkedHashMap<>();
                a.put("ancestorRef", ref);
                a.put("controllerName", controllerName);
                a.put("conditions", conds);
                out.add(a);
            }
            return new ResourceStatus(p.apiVersion(), "BackendTLSPolicy", p.metadata().namespace(),
                    p.metadata().name(), g, Map.of("ancestors", out));
        }
    }

    /**
     * Resolves every BackendTLSPolicy: its CA bundles, SNI and subject alt names, and which one applies to each
     * Service (and section). Among policies for the same target, the oldest (then the first by namespace/name)
     * wins and the others are Conflicted; a policy for a section beats one for the whole Service on that port.
     */
    private void resolveBackendTlsPolicies() {
        final List<PolicyState> all = new ArrayList<>();
        for (BackendTLSPolicy p : in.backendTLSPolicies()) {
            final PolicyState ps = new PolicyState(p);
            tlsPolicies.add(ps);
            all.add(ps);
            resolvePolicyTls(ps);
        }
        all.sort(Comparator.comparing((PolicyState ps) -> ps.p.metadata().creationTimestamp().isEmpty()
                        ? "~" : ps.p.metadata().creationTimestamp())
                .thenComparing(ps -> ps.p.metadata().namespace()).thenComparing(ps -> ps.p.metadata().name()));
        for (PolicyState ps : all) {
            final BackendTLSPolicy p = ps.p;
            for (int i = 0; i < p.targetRefs().size(); i++) {
                final BackendTLSPolicy.TargetRef t = p.targetRefs().get(i);
                if (!t.group().isEmpty() && !t.group().equals("core") || !"Service".equals(t.kind())) {
                    warn(p, "spec.targetRefs[" + i + "]", "InvalidKind", "targetRef kind " + t.kind()
                            + " is not supported; only core Service");
                    continue;
                }
                final String key = p.metadata().namespace() + "/" + t.name()
                        + (t.sectionName() == null ? "" : "/" + t.sectionName());
                final List<PolicyState> forService = policiesByService.computeIfAbsent(
                        p.metadata().namespace() + "/" + t.name(), k -> new ArrayList<>());
                if (!forService.contains(ps)) {
                    forService.add(ps);
                }
                final PolicyState prev = tlsPolicyByTarget.putIfAbsent(key, ps);
                if (prev != null && prev != ps) {
                    ps.conflicted = true;
                    warn(p, "spec.targetRefs[" + i + "]", "Conflicted", "BackendTLSPolicy " + prev.key()
                            + " already targets " + key + " and takes precedence");
                }
            }
        }
    }

    private void resolvePolicyTls(PolicyState ps) {
        final BackendTLSPolicy p = ps.p;
        final long g = p.metadata().generation();
        final BackendTLSPolicy.Validation v = p.validation();
        final String ns = p.metadata().namespace();
        if (v.hostname() == null || v.hostname().isEmpty()) {
            warn(p, "spec.validation.hostname", "Invalid", "validation.hostname is required");
            ps.conditions.add(Condition.no("Accepted", "Invalid", "validation.hostname is required", g));
            ps.tls = UpstreamTls.of(ps.key(), "", List.of(), false, List.of(), "no validation.hostname");
            return;
        }
        boolean system = false;
        if (v.wellKnownCACertificates() != null) {
            if (!"System".equals(v.wellKnownCACertificates()) || !v.caCertificateRefs().isEmpty()) {
                final String m = !v.caCertificateRefs().isEmpty()
                        ? "caCertificateRefs and wellKnownCACertificates are mutually exclusive"
                        : "wellKnownCACertificates " + v.wellKnownCACertificates() + " is not supported; only System";
                warn(p, "spec.validation.wellKnownCACertificates", "Invalid", m);
                ps.conditions.add(Condition.no("Accepted", "Invalid", m, g));
                ps.tls = UpstreamTls.of(ps.key(), v.hostname(), List.of(), false, List.of(), m);
                return;
            }
            system = true;
        }
        final List<X509Certificate> cas = new ArrayList<>();
        String reason = null;
        String message = null;
        for (int i = 0; i < v.caCertificateRefs().size(); i++) {
            final BackendTLSPolicy.CARef ref = v.caCertificateRefs().get(i);
            String r = null;
            String m = null;
            if (!(ref.group().isEmpty() || ref.group().equals("core")) || !"ConfigMap".equals(ref.kind())) {
                r = "InvalidKind";
                m = "caCertificateRef kind " + (ref.group().isEmpty() ? "" : ref.group() + "/") + ref.kind()
                        + " is not supported; only core ConfigMap";
            } else {
                try {
                    cas.addAll(caBundle(ns, ref.name()));
                } catch (IllegalArgumentException e) {
                    r = "InvalidCACertificateRef";
                    m = e.getMessage();
                }
            }
            if (r != null) {
                warn(p, "spec.validation.caCertificateRefs[" + i + "]", r, m);
                if (reason == null) {
                    reason = r;
                    message = m;
                }
            }
        }
        if (reason != null) {
            ps.conditions.add(Condition.no("ResolvedRefs", reason, message, g));
        }
        final List<String> sans = new ArrayList<>();
        for (int i = 0; i < v.subjectAltNames().size(); i++) {
            final BackendTLSPolicy.SubjectAltName san = v.subjectAltNames().get(i);
            if ("Hostname".equals(san.type()) && san.hostname() != null) {
                sans.add("dns:" + san.hostname().toLowerCase(Locale.ROOT));
            } else if ("URI".equals(san.type()) && san.uri() != null) {
                sans.add("uri:" + san.uri());
            } else {
                warn(p, "spec.validation.subjectAltNames[" + i + "]", "Invalid", "a subjectAltName needs type "
                        + "Hostname with hostname, or type URI with uri");
            }
        }
        String invalid = null;
        if (cas.isEmpty() && !system) {
            invalid = message == null ? "no caCertificateRefs" : message;
            ps.conditions.add(Condition.no("Accepted", "NoValidCACertificate",
                    "no caCertificateRef could be resolved; connections to the targeted Service fail", g));
        }
        ps.tls = UpstreamTls.of(ps.key(), v.hostname().toLowerCase(Locale.ROOT), cas, system, sans, invalid);
    }

    /** The policy that applies to a Service port (by its name), or null. */
    private PolicyState policyFor(String ns, String service, String portName) {
        if (portName != null && !portName.isEmpty()) {
            final PolicyState ps = tlsPolicyByTarget.get(ns + "/" + service + "/" + portName);
            if (ps != null) {
                return ps;
            }
        }
        return tlsPolicyByTarget.get(ns + "/" + service);
    }

    private void supportedKinds(Resource owner, String field, LState s, long g) {
        final List<Gateway.RouteGroupKind> kinds = s.l.allowedRoutes().kinds();
        final List<String> routeKinds = routeKinds(s.l.protocol());
        if (kinds.isEmpty()) {
            for (String k : routeKinds) {
                s.supportedKinds.add(TableDump.ordered("group", GW_GROUP, "kind", k));
                s.allowedKinds.add(k);
            }
            return;
        }
        boolean invalid = false;
        for (Gateway.RouteGroupKind k : kinds) {
            if (GW_GROUP.equals(k.group()) && routeKinds.contains(k.kind())) {
                if (s.allowedKinds.add(k.kind())) {
                    s.supportedKinds.add(TableDump.ordered("group", GW_GROUP, "kind", k.kind()));
                }
            } else {
                invalid = true;
            }
        }
        if (invalid) {
            s.conditions.add(Condition.no("ResolvedRefs", "InvalidRouteKinds",
                    "some allowedRoutes.kinds are not supported on this listener", g));
            warn(owner, field + ".allowedRoutes.kinds", "InvalidRouteKinds",
                    "some kinds are not supported on protocol " + s.l.protocol());
        }
    }

    /**
     * The status of one listener ({@code status.listeners[]} of a Gateway or a ListenerSet): its own conditions
     * first, then the defaults for Accepted, ResolvedRefs, Conflicted and Programmed.
     */
    private static Map<String, Object> listenerStatus(LState s, boolean parentInvalid, long g) {
        final List<Object> conds = new ArrayList<>();
        final Map<String, Condition> byType = new LinkedHashMap<>();
        for (Condition c : s.conditions) {
            byType.putIfAbsent(c.type(), c);
        }
        byType.putIfAbsent("Accepted", s.accepted ? Condition.ok("Accepted", "Accepted", "Listener accepted", g)
                : Condition.no("Accepted", "Invalid", "Listener is invalid", g));
        byType.putIfAbsent("ResolvedRefs", Condition.ok("ResolvedRefs", "ResolvedRefs", "References resolved", g));
        byType.putIfAbsent("Conflicted", Condition.no("Conflicted", "NoConflicts", "No conflicts", g));
        final boolean prog = s.valid() && !parentInvalid;
        if (prog || !byType.containsKey("Programmed")) {
            byType.put("Programmed", prog ? Condition.ok("Programmed", "Programmed", "Listener programmed", g)
                    : Condition.no("Programmed", "Invalid", "Listener is not programmed", g));
        }
        for (Condition c : byType.values()) {
            conds.add(c.toMap());
        }
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", s.l.name());
        m.put("supportedKinds", List.copyOf(s.supportedKinds));
        m.put("attachedRoutes", s.attached);
        m.put("conditions", conds);
        return m;
    }

    private ResourceStatus gatewayStatus(Gateway gw, GState st) {
        final long g = gw.metadata().generation();
        final List<Object> listeners = new ArrayList<>();
        boolean anyProgrammed = false;
        boolean allValid = true;
        for (LState s : st.listeners) {
            anyProgrammed |= s.valid() && !st.invalidParameters;
            allValid &= s.accepted;
            listeners.add(listenerStatus(s, st.invalidParameters, g));
        }
        int attachedSets = 0;
        for (SetState ss : st.sets) {
            if (ss.accepted()) {
                attachedSets++;
                anyProgrammed |= !st.invalidParameters;
            }
        }
        final List<Object> addrs = new ArrayList<>();
        for (String a : st.addresses) {
            addrs.add(TableDump.ordered("type", "IPAddress", "value", a));
        }
        final Condition accepted;
        if (st.invalidParameters) {
            accepted = Condition.no("Accepted", "InvalidParameters", "spec.infrastructure.parametersRef cannot be "
                    + "resolved", g);
        } else if (!st.accepted()) {
            accepted = Condition.no("Accepted", "ListenersNotValid", "no listener is valid", g);
        } else if (!allValid) {
            accepted = Condition.ok("Accepted", "ListenersNotValid", "some listeners are not valid", g);
        } else {
            accepted = Condition.ok("Accepted", "Accepted", "Gateway accepted", g);
        }
        final Map<String, Object> out = new LinkedHashMap<>();
        out.put("addresses", addrs);
        final List<Object> gconds = new ArrayList<>(List.of(accepted.toMap(),
                anyProgrammed ? Condition.ok("Programmed", "Programmed", "Gateway programmed", g).toMap()
                        : Condition.no("Programmed", "Invalid", "No listener is programmed", g).toMap()));
        if (st.backendRefs != null) {
            gconds.add(st.backendRefs.toMap());
        }
        if (st.insecureFrontend) {
            gconds.add(Condition.ok("InsecureFrontendValidationMode", "ConfigurationChanged",
                    "client certificate validation is AllowInsecureFallback on some ports", g).toMap());
        }
        out.put("conditions", gconds);
        out.put("listeners", listeners);
        if (!st.sets.isEmpty() || !"None".equals(gw.allowedListeners().from())) {
            out.put("attachedListenerSets", attachedSets);
        }
        return new ResourceStatus(gw.apiVersion(), "Gateway", gw.metadata().namespace(), gw.metadata().name(), g, out);
    }

    /**
     * A ListenerSet's status: Accepted and Programmed (NotAllowed, ParentNotAccepted, or ListenersNotValid when no
     * listener is valid), and its listeners like a Gateway's.
     */
    private ResourceStatus listenerSetStatus(SetState ss) {
        final ListenerSet set = ss.set;
        final long g = set.metadata().generation();
        final boolean parentInvalid = ss.parent.invalidParameters;
        final List<Object> listeners = new ArrayList<>();
        boolean allValid = true;
        for (LState s : ss.listeners) {
            allValid &= s.valid();
            listeners.add(listenerStatus(s, parentInvalid, g));
        }
        final Condition accepted;
        final Condition programmed;
        if (ss.rejected != null) {
            final String msg = "NotAllowed".equals(ss.rejected) ? "the parent Gateway's spec.allowedListeners does "
                    + "not allow ListenerSets from this namespace" : "the parent Gateway is not accepted";
            accepted = Condition.no("Accepted", ss.rejected, msg, g);
            programmed = Condition.no("Programmed", ss.rejected, msg, g);
        } else if (!ss.accepted()) {
            accepted = Condition.no("Accepted", "ListenersNotValid", "no listener is valid", g);
            programmed = Condition.no("Programmed", "ListenersNotValid", "no listener is valid", g);
        } else {
            accepted = allValid ? Condition.ok("Accepted", "Accepted", "ListenerSet accepted", g)
                    : Condition.ok("Accepted", "ListenersNotValid", "some listeners are not valid", g);
            programmed = Condition.ok("Programmed", "Programmed", "ListenerSet programmed", g);
        }
        final Map<String, Object> out = new LinkedHashMap<>();
        out.put("conditions", List.of(accepted.toMap(), programmed.toMap()));
        out.put("listeners", listeners);
        return new ResourceStatus(set.apiVersion(), "ListenerSet", set.metadata().namespace(),
                set.metadata().name(), g, out);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Routes

    /**
     * A route of any HTTP kind, reduced to what attachment needs: its resource, kind prefix for provenance, parents,
     * hostnames, and its rules already resolved (matches as path/method/header/query, action, ResolvedRefs).
     */
    private record RouteIn(Resource res, String keyPrefix, List<ParentReference> parents, List<String> hostnames,
                           List<ResolvedRule> rules) {
    }

    /** A match in the common shape of HTTPRoute and GRPCRoute; null entries were invalid and are skipped. */
    private record MatchSpec(String pathType, String pathValue, String method, List<RouteModel.ValueMatch> headers,
                             List<RouteModel.ValueMatch> queryParams) {
    }

    /** A rule after validation and backend resolution. */
    private record ResolvedRule(List<MatchSpec> matches, RouteAction action, String refReason, String refMessage) {
    }

    private RouteIn httpRouteIn(HTTPRoute r) {
        final List<ResolvedRule> rules = new ArrayList<>();
        for (int i = 0; i < r.rules().size(); i++) {
            final HTTPRouteRule rule = r.rules().get(i);
            final String field = "spec.rules[" + i + "]";
            final List<HTTPRouteMatch> src = rule.matches().isEmpty()
                    ? List.of(new HTTPRouteMatch(new HTTPRouteMatch.PathMatch("PathPrefix", "/"), List.of(),
                    List.of(), null)) : rule.matches();
            final List<MatchSpec> matches = new ArrayList<>();
            for (int j = 0; j < src.size(); j++) {
                final HTTPRouteMatch m = src.get(j);
                matches.add(validMatch(r, field + ".matches[" + j + "]", m) ? new MatchSpec(m.path().type(),
                        m.path().value(), m.method(), valueMatches(m.headers(), true),
                        valueMatches(m.queryParams(), false)) : null);
            }
            rules.add(resolveRule(r, field, matches, rule.filters(), rule.backendRefs(), false,
                    timeouts(r, field + ".timeouts", rule.timeouts()), retry(r, field + ".retry", rule.retry())));
        }
        return new RouteIn(r, "httproute", r.parentRefs(), r.hostnames(), rules);
    }

    /**
     * A TLSRoute, TCPRoute or UDPRoute: one catch-all match per rule (a TLSRoute is found by SNI hostname, a TCPRoute has
     * none); the backends get the raw stream.
     */
    private RouteIn tlsRouteIn(L4Route r) {
        final List<ResolvedRule> rules = new ArrayList<>();
        for (int i = 0; i < r.rules().size(); i++) {
            final L4Route.Rule rule = r.rules().get(i);
            final List<MatchSpec> matches = List.of(new MatchSpec("PathPrefix", "/", null, List.of(), List.of()));
            rules.add(resolveRule(r, "spec.rules[" + i + "]", matches, List.of(), rule.backendRefs(), false,
                    RouteAction.Timeouts.NONE, RouteAction.Retry.NONE));
        }
        return new RouteIn(r, r.kind().toLowerCase(Locale.ROOT), r.parentRefs(), r.hostnames(), rules);
    }

    private RouteIn grpcRouteIn(GRPCRoute r) {
        final List<ResolvedRule> rules = new ArrayList<>();
        for (int i = 0; i < r.rules().size(); i++) {
            final GRPCRoute.Rule rule = r.rules().get(i);
            final String field = "spec.rules[" + i + "]";
            final List<GRPCRoute.Match> src = rule.matches().isEmpty()
                    ? List.of(new GRPCRoute.Match(null, List.of())) : rule.matches();
            final List<MatchSpec> matches = new ArrayList<>();
            for (int j = 0; j < src.size(); j++) {
                matches.add(grpcMatch(r, field + ".matches[" + j + "]", src.get(j)));
            }
            rules.add(resolveRule(r, field, matches, rule.filters(), rule.backendRefs(), true,
                    RouteAction.Timeouts.NONE, RouteAction.Retry.NONE));
        }
        return new RouteIn(r, "grpcroute", r.parentRefs(), r.hostnames(), rules);
    }

    /**
     * A GRPCRoute method match as a path match on {@code /service/method}: service and method exact give an exact
     * path; service alone a prefix; anything with a regular expression (or a method alone) an RE2 expression.
     */
    private MatchSpec grpcMatch(GRPCRoute r, String field, GRPCRoute.Match m) {
        for (HTTPRouteMatch.ValueMatch h : m.headers()) {
            if (!validValueMatch(r, field + ".headers", h)) {
                return null;
            }
        }
        final List<RouteModel.ValueMatch> headers = valueMatches(m.headers(), true);
        final GRPCRoute.MethodMatch mm = m.method();
        if (mm == null || (mm.service() == null && mm.method() == null)) {
            return new MatchSpec("PathPrefix", "/", "POST", headers, List.of());
        }
        if ("Exact".equals(mm.type())) {
            if (mm.service() != null && mm.method() != null) {
                return new MatchSpec("Exact", "/" + mm.service() + "/" + mm.method(), "POST", headers, List.of());
            }
            if (mm.service() != null) {
                return new MatchSpec("PathPrefix", "/" + mm.service(), "POST", headers, List.of());
            }
            return new MatchSpec("RegularExpression", "/[^/]+/" + quote(mm.method()), "POST", headers, List.of());
        }
        if ("RegularExpression".equals(mm.type())) {
            final String re = "/" + (mm.service() == null ? "[^/]+" : mm.service()) + "/"
                    + (mm.method() == null ? "[^/]+" : mm.method());
            return validRegex(r, field + ".method", re) ? new MatchSpec("RegularExpression", re, "POST", headers,
                    List.of()) : null;
        }
        warn(r, field + ".method.type", "UnsupportedValue", "unknown method match type " + mm.type());
        return null;
    }

    private static String quote(String literal) {
        return Pattern.quote(literal);
    }

    /**
     * Gateway API's hostname: lower-case RFC 1123 labels ({@code [a-z0-9]}, inner {@code -}) joined by dots, with
     * an optional leading {@code *.}; at most 253 characters. Checked by hand: it runs for every hostname of every
     * route on each build.
     */
    static boolean validHostname(String h) {
        int i = h.startsWith("*.") ? 2 : 0;
        final int n = h.length();
        if (i == n || n > 253) {
            return false;
        }
        while (true) {
            final int start = i;
            while (i < n && h.charAt(i) != '.') {
                final char c = h.charAt(i);
                if (!(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')) {
                    return false;
                }
                i++;
            }
            if (i == start || h.charAt(start) == '-' || h.charAt(i - 1) == '-') {
                return false;
            }
            if (i == n) {
                return true;
            }
            i++; // the dot; a trailing dot leaves an empty label, rejected above
        }
    }

    private void translateRoute(RouteIn r) {
        final List<PolicyState> policies = new ArrayList<>();
        for (String svc : servicesOfRoute) {
            policies.addAll(policiesByService.getOrDefault(svc, List.of()));
        }
        servicesOfRoute.clear();
        final Resource res = r.res();
        final String rns = res.metadata().namespace();
        final long g = res.metadata().generation();
        final List<Object> parents = new ArrayList<>();
        for (int i = 0; i < r.hostnames().size(); i++) {
            final String h = r.hostnames().get(i);
            if (!validHostname(h)) {
                error(res, "spec.hostnames[" + i + "]", "InvalidHostname", "\"" + h + "\" is not a valid hostname");
                return;
            }
        }
        String refReason = null;
        String refMessage = null;
        for (ResolvedRule rr : r.rules()) {
            if (rr.refReason() != null && refReason == null) {
                refReason = rr.refReason();
                refMessage = rr.refMessage();
            }
        }
        for (int pi = 0; pi < r.parents().size(); pi++) {
            final ParentReference p = r.parents().get(pi);
            if (!GW_GROUP.equals(p.group()) || !"Gateway".equals(p.kind()) && !"ListenerSet".equals(p.kind())) {
                continue;
            }
            final String pns = p.namespace() != null ? p.namespace() : rns;
            // A Gateway parentRef reaches the Gateway's own listeners only; a ListenerSet parentRef the set's.
            final SetState sst = "ListenerSet".equals(p.kind()) ? listenerSets.get(pns + "/" + p.name()) : null;
            final GState gst = sst != null ? sst.parent
                    : "Gateway".equals(p.kind()) ? gateways.get(pns + "/" + p.name()) : null;
            if (gst == null) {
                continue; // Not a parent of ours: another controller may own it.
            }
            for (PolicyState ps : policies) {
                ps.ancestors.putIfAbsent(gst.gw.metadata().namespace() + "/" + gst.gw.metadata().name(), gst.gw);
            }
            Condition accepted = null;
            if (sst != null && !sst.accepted()) {
                accepted = Condition.no("Accepted", "NotAllowedByListeners", "ListenerSet " + pns + "/" + p.name()
                        + " is not accepted by its Gateway", g);
            }
            final List<LState> candidates = new ArrayList<>();
            for (LState s : sst == null ? gst.listeners : sst.accepted() ? sst.listeners : List.<LState>of()) {
                if (p.sectionName() != null && !p.sectionName().equals(s.l.name())) {
                    continue;
                }
                if (p.port() != null && p.port() != s.l.port()) {
                    continue;
                }
                candidates.add(s);
            }
            if (accepted == null && candidates.isEmpty()) {
                accepted = Condition.no("Accepted", "NoMatchingParent",
                        "no listener matches sectionName/port of the parentRef", g);
            }
            final List<LState> allowed = new ArrayList<>();
            for (LState s : candidates) {
                if (s.allowedKinds.contains(res.kind()) && namespaceAllowed(s, rns)) {
                    allowed.add(s);
                }
            }
            if (accepted == null && allowed.isEmpty()) {
                accepted = Condition.no("Accepted", "NotAllowedByListeners",
                        "no listener allows this route (allowedRoutes namespaces or kinds)", g);
            }
            if (accepted == null) {
                boolean anyHost = false;
                for (LState s : allowed) {
                    final List<String> hosts = intersect(lower(s.l.hostname()), r.hostnames());
                    if (hosts.isEmpty()) {
                        continue;
                    }
                    anyHost = true;
                    s.attached++;
                    if (s.accepted && s.programmed) {
                        attach(s, r, hosts);
                    }
                }
                if (!anyHost) {
                    accepted = Condition.no("Accepted", "NoMatchingListenerHostname",
                            "no listener hostname intersects the route hostnames", g);
                }
            }
            if (accepted == null) {
                accepted = Condition.ok("Accepted", "Accepted", "Route accepted", g);
            }
            final Condition resolved = refReason == null
                    ? Condition.ok("ResolvedRefs", "ResolvedRefs", "All references resolved", g)
                    : Condition.no("ResolvedRefs", refReason, refMessage, g);
            parents.add(routeParentStatus(p, accepted, resolved));
        }
        if (!parents.isEmpty()) {
            statuses.add(new ResourceStatus(res.apiVersion(), res.kind(), rns, res.metadata().name(), g,
                    Map.of("parents", List.copyOf(parents))));
        }
    }

    /**
     * One entry of a route's {@code status.parents}. Routes with the same parentRef and conditions (most routes of a
     * namespace, at 10,000 routes) share one unmodifiable stanza instead of five maps each.
     */
    private Map<String, Object> routeParentStatus(ParentReference p, Condition accepted, Condition resolved) {
        return parentStatuses.computeIfAbsent(new ParentStatusKey(p, accepted, resolved), k -> {
            final Map<String, Object> parentRef = new LinkedHashMap<>();
            parentRef.put("group", p.group());
            parentRef.put("kind", p.kind());
            if (p.namespace() != null) {
                parentRef.put("namespace", p.namespace());
            }
            parentRef.put("name", p.name());
            if (p.sectionName() != null) {
                parentRef.put("sectionName", p.sectionName());
            }
            if (p.port() != null) {
                parentRef.put("port", p.port());
            }
            final Map<String, Object> ps = new LinkedHashMap<>();
            ps.put("parentRef", Collections.unmodifiableMap(parentRef));
            ps.put("controllerName", controllerName);
            ps.put("conditions", List.of(Collections.unmodifiableMap(accepted.toMap()),
                    Collections.unmodifiableMap(resolved.toMap())));
            return Collections.unmodifiableMap(ps);
        });
    }

    private record ParentStatusKey(ParentReference parentRef, Condition accepted, Condition resolved) {
    }

    private boolean namespaceAllowed(LState s, String routeNs) {
        final Gateway.AllowedRoutes ar = s.l.allowedRoutes();
        return switch (ar.from()) {
            case "All" -> true;
            case "Same" -> routeNs.equals(s.ownerNamespace());
            case "Selector" -> ar.selector() != null && ar.selector().matches(namespaceLabels(routeNs));
            default -> false;
        };
    }

    /** A namespace's labels, with {@code kubernetes.io/metadata.name} as Kubernetes sets it on every namespace. */
    private Map<String, String> namespaceLabels(String ns) {
        final Namespace n = namespaces.get(ns);
        final Map<String, String> labels = new HashMap<>(n == null ? Map.of() : n.metadata().labels());
        labels.put("kubernetes.io/metadata.name", ns);
        return labels;
    }

    /**
     * Intersects a listener hostname (null for any) with route hostnames (empty for any). Returns the effective
     * hostnames; {@code *} stands for any host.
     */
    static List<String> intersect(String listener, List<String> routeHosts) {
        if (routeHosts.isEmpty()) {
            return List.of(listener == null ? "*" : listener);
        }
        final List<String> out = new ArrayList<>();
        for (String raw : routeHosts) {
            final String h = raw.toLowerCase(Locale.ROOT);
            if (listener == null) {
                out.add(h);
            } else if (listener.equals(h)) {
                out.add(h);
            } else if (listener.startsWith("*.") && !h.startsWith("*.")) {
                if (h.endsWith(listener.substring(1))) {
                    out.add(h);
                }
            } else if (!listener.startsWith("*.") && h.startsWith("*.")) {
                if (listener.endsWith(h.substring(1))) {
                    out.add(listener);
                }
            } else if (listener.startsWith("*.") && h.startsWith("*.")) {
                if (h.endsWith(listener.substring(1))) {
                    out.add(h);
                } else if (listener.endsWith(h.substring(1))) {
                    out.add(listener);
                }
            }
        }
        return List.copyOf(new LinkedHashSet<>(out));
    }

    private void attach(LState s, RouteIn r, List<String> hosts) {
        final GState gs = gateways.get(s.gw.metadata().namespace() + "/" + s.gw.metadata().name());
        final CertificateKeyPair cert = gs == null ? null : gs.backendClientCertificate;
        final String ns = r.res().metadata().namespace();
        final String name = r.res().metadata().name();
        final String key = r.keyPrefix() + "/" + ns + "/" + name;
        for (int i = 0; i < r.rules().size(); i++) {
            final ResolvedRule rr = r.rules().get(i);
            for (int j = 0; j < rr.matches().size(); j++) {
                final MatchSpec m = rr.matches().get(j);
                if (m == null) {
                    continue; // invalid match, reported
                }
                s.routes.add(new RouteModel(key + "/rule/" + i + "/match/" + j, key, ns, name,
                        r.res().metadata().creationTimestamp(), i, j, hosts, m.pathType(), m.pathValue(),
                        m.method(), m.headers(), m.queryParams(), withClientCertificate(rr.action(), cert)));
            }
        }
    }

    /** Actions and clusters bound to a Gateway's backend client certificate, by certificate (shared per build). */
    private final Map<CertificateKeyPair, Map<Object, Object>> boundToCertificate = new HashMap<>();

    /**
     * The action as a Gateway with {@code spec.tls.backend.clientCertificateRef} runs it: every cluster reached
     * over TLS (a BackendTLSPolicy) presents {@code cert}. Clusters are shared across the routes of all Gateways, so
     * the Gateway's certificate goes into a copy of the cluster's {@link UpstreamTls} (and so into the pool key);
     * copies are made once per certificate and cluster. Null {@code cert}: the action itself.
     */
    private RouteAction withClientCertificate(RouteAction a, CertificateKeyPair cert) {
        if (cert == null || !(a instanceof RouteAction.Forward f)) {
            return a;
        }
        final Map<Object, Object> memo = boundToCertificate.computeIfAbsent(cert, c -> new java.util.IdentityHashMap<>());
        final Object done = memo.get(f);
        if (done != null) {
            return (RouteAction) done;
        }
        final List<Backend> backends = new ArrayList<>(f.backends().size());
        for (Backend b : f.backends()) {
            backends.add(b instanceof Backend.Forward bf && bf.cluster().tls() != null
                    ? new Backend.Forward(bound(bf.cluster(), cert, memo)) : b);
        }
        final List<RouteAction.Filters> backendFilters = new ArrayList<>(f.backendFilters().size());
        for (RouteAction.Filters bf : f.backendFilters()) {
            backendFilters.add(bound(bf, cert, memo));
        }
        final RouteAction out = new RouteAction.Forward(List.copyOf(backends), f.cumulativeWeights(),
                bound(f.filters(), cert, memo), List.copyOf(backendFilters), f.timeouts(), f.retry());
        memo.put(f, out);
        return out;
    }

    private RouteAction.Filters bound(RouteAction.Filters fs, CertificateKeyPair cert, Map<Object, Object> memo) {
        if (fs == null || fs.mirrors().stream().noneMatch(m -> m.cluster().tls() != null)) {
            return fs;
        }
        final List<RouteAction.Mirror> mirrors = new ArrayList<>();
        for (RouteAction.Mirror m : fs.mirrors()) {
            mirrors.add(m.cluster().tls() == null ? m
                    : new RouteAction.Mirror(bound(m.cluster(), cert, memo), m.numerator(), m.denominator()));
        }
        return new RouteAction.Filters(fs.requestHeaders(), fs.responseHeaders(), fs.hostRewrite(), fs.pathRewrite(),
                List.copyOf(mirrors), fs.cors());
    }

    private static Cluster bound(Cluster c, CertificateKeyPair cert, Map<Object, Object> memo) {
        return (Cluster) memo.computeIfAbsent(c, k -> new Cluster(c.name(), c.protocol(), c.endpoints(),
                c.loadBalancing(), c.tls().withClientCertificate(cert), c.healthCheck()));
    }

    private static List<RouteModel.ValueMatch> valueMatches(List<HTTPRouteMatch.ValueMatch> in, boolean header) {
        final List<RouteModel.ValueMatch> out = new ArrayList<>();
        final Set<String> seen = new LinkedHashSet<>();
        for (HTTPRouteMatch.ValueMatch v : in) {
            final String n = header ? v.name().toLowerCase(Locale.ROOT) : v.name();
            // Gateway API: only the first match of a repeated name counts.
            if (seen.add(n)) {
                out.add(new RouteModel.ValueMatch(n, v.value(), "RegularExpression".equals(v.type())));
            }
        }
        return out;
    }

    private static final Pattern DURATION = Pattern.compile("^([0-9]{1,5}(h|m|s|ms)){1,4}$");

    /** Gateway API durations (GEP-2257): {@code 1h}, {@code 10s}, {@code 500ms}, {@code 1h30m}; 0 means none. */
    static long durationMs(String s) {
        long total = 0;
        final java.util.regex.Matcher m = java.util.regex.Pattern.compile("([0-9]+)(ms|h|m|s)").matcher(s);
        while (m.find()) {
            final long n = Long.parseLong(m.group(1));
            total += switch (m.group(2)) {
                case "h" -> n * 3_600_000L;
                case "m" -> n * 60_000L;
                case "s" -> n * 1000L;
                default -> n;
            };
        }
        return total;
    }

    /** Envoy's base retry back-off when the route names none. */
    private static final long DEFAULT_BACKOFF_MS = 25;

    private RouteAction.Retry retry(Resource r, String field, HTTPRouteRule.Retry t) {
        if (t == null) {
            return RouteAction.Retry.NONE;
        }
        final int attempts = t.attempts() == null ? 1 : t.attempts();
        if (attempts < 0) {
            warn(r, field + ".attempts", "UnsupportedValue", "attempts must not be negative; no retries");
            return RouteAction.Retry.NONE;
        }
        long backoff = DEFAULT_BACKOFF_MS;
        if (t.backoff() != null) {
            if (DURATION.matches(t.backoff())) {
                backoff = durationMs(t.backoff());
            } else {
                warn(r, field + ".backoff", "UnsupportedValue", "\"" + t.backoff()
                        + "\" is not a Gateway API duration; using " + DEFAULT_BACKOFF_MS + "ms");
            }
        }
        final int[] codes = t.codes().stream().mapToInt(Integer::intValue).filter(c -> c >= 400 && c <= 599)
                .sorted().distinct().toArray();
        if (codes.length != t.codes().size()) {
            warn(r, field + ".codes", "UnsupportedValue", "only 4xx and 5xx codes can be retried; others ignored");
        }
        return new RouteAction.Retry(attempts, codes, backoff);
    }

    private RouteAction.Timeouts timeouts(Resource r, String field, HTTPRouteRule.Timeouts t) {
        if (t == null) {
            return RouteAction.Timeouts.NONE;
        }
        long request = 0;
        long backend = 0;
        if (t.request() != null) {
            if (DURATION.matches(t.request())) {
                request = durationMs(t.request());
            } else {
                warn(r, field + ".request", "UnsupportedValue", "\"" + t.request()
                        + "\" is not a Gateway API duration (e.g. 10s, 500ms, 1h30m); ignored");
            }
        }
        if (t.backendRequest() != null) {
            if (DURATION.matches(t.backendRequest())) {
                backend = durationMs(t.backendRequest());
            } else {
                warn(r, field + ".backendRequest", "UnsupportedValue", "\"" + t.backendRequest()
                        + "\" is not a Gateway API duration; ignored");
            }
        }
        if (request > 0 && backend > request) {
            warn(r, field + ".backendRequest", "UnsupportedValue",
                    "backendRequest must not exceed request; using the request timeout for each try");
            backend = request;
        }
        return new RouteAction.Timeouts(request, backend);
    }

    private ResolvedRule resolveRule(Resource r, String field, List<MatchSpec> matches,
                                     List<HTTPRouteFilter> filters, List<HTTPBackendRef> backendRefs, boolean grpc,
                                     RouteAction.Timeouts timeouts, RouteAction.Retry retry) {
        final FilterSet fs = filters(r, field + ".filters", filters, matches);
        if (fs.unsupported != null) {
            return new ResolvedRule(matches, new RouteAction.Direct(500, "", fs.unsupported), null, null);
        }
        if (fs.redirect != null) {
            return new ResolvedRule(matches, fs.redirect, null, null);
        }
        if (backendRefs.isEmpty()) {
            // No backends: Gateway API asks for a 500.
            return new ResolvedRule(matches, new RouteAction.Direct(500, "", "NoBackends"), null, null);
        }
        final List<Backend> backends = new ArrayList<>();
        final List<Integer> weights = new ArrayList<>();
        final List<RouteAction.Filters> bfilters = new ArrayList<>();
        String reason = null;
        String message = null;
        for (int b = 0; b < backendRefs.size(); b++) {
            final HTTPBackendRef ref = backendRefs.get(b);
            final String bf = field + ".backendRefs[" + b + "]";
            final Backend be = resolveBackend(r, bf, ref, grpc);
            if (be instanceof Backend.Invalid inv && reason == null) {
                reason = inv.reason();
                message = inv.message();
            }
            final FilterSet bfs = filters(r, bf + ".filters", ref.filters(), matches);
            if (ref.weight() < 0) {
                error(r, bf + ".weight", "UnsupportedValue", "weight must not be negative");
            }
            backends.add(bfs.unsupported != null ? new Backend.Invalid(500, "UnsupportedValue", bfs.unsupported)
                    : be);
            weights.add(Math.max(0, ref.weight()));
            bfilters.add(bfs.filters);
        }
        final RouteAction.Forward fwd = RouteAction.Forward.of(backends, weights, fs.filters, bfilters, timeouts,
                retry);
        if (fwd.totalWeight() == 0) {
            return new ResolvedRule(matches, new RouteAction.Direct(500, "", "AllWeightsZero"), reason, message);
        }
        return new ResolvedRule(matches, fwd, reason, message);
    }

    private boolean validMatch(Resource r, String field, HTTPRouteMatch m) {
        final String type = m.path().type();
        final String v = m.path().value();
        switch (type) {
            case "Exact", "PathPrefix" -> {
                if (!v.startsWith("/")) {
                    warn(r, field + ".path.value", "UnsupportedValue", "path must start with /: \"" + v + "\"");
                    return false;
                }
            }
            case "RegularExpression" -> {
                if (!validRegex(r, field + ".path.value", v)) {
                    return false;
                }
            }
            default -> {
                warn(r, field + ".path.type", "UnsupportedValue", "unknown path match type " + type);
                return false;
            }
        }
        for (int i = 0; i < m.headers().size(); i++) {
            if (!validValueMatch(r, field + ".headers[" + i + "]", m.headers().get(i))) {
                return false;
            }
        }
        for (int i = 0; i < m.queryParams().size(); i++) {
            if (!validValueMatch(r, field + ".queryParams[" + i + "]", m.queryParams().get(i))) {
                return false;
            }
        }
        return true;
    }

    private boolean validValueMatch(Resource r, String field, HTTPRouteMatch.ValueMatch v) {
        return switch (v.type()) {
            case "Exact" -> true;
            case "RegularExpression" -> validRegex(r, field + ".value", v.value());
            default -> {
                warn(r, field + ".type", "UnsupportedValue", "unknown match type " + v.type());
                yield false;
            }
        };
    }

    private boolean validRegex(Resource r, String field, String re) {
        try {
            Pattern.compile(re);
            return true;
        } catch (PatternSyntaxException e) {
            warn(r, field, "UnsupportedValue", "invalid RE2 regular expression \"" + re + "\": " + e.getMessage()
                    + "; this match is dropped");
            return false;
        }
    }

    /** The filters of a rule or backendRef, compiled; {@code unsupported} names a filter that cannot be honoured. */
    private record FilterSet(RouteAction.Filters filters, RouteAction.Redirect redirect, String unsupported) {
    }

    private FilterSet filters(Resource r, String field, List<HTTPRouteFilter> list, List<MatchSpec> matches) {
        HeaderMutation req = null;
        HeaderMutation resp = null;
        String host = null;
        PathModifier path = null;
        RouteAction.Redirect redirect = null;
        final List<RouteAction.Mirror> mirrors = new ArrayList<>();
        CorsPolicy cors = null;
        for (int i = 0; i < list.size(); i++) {
            final HTTPRouteFilter f = list.get(i);
            final String ff = field + "[" + i + "]";
            switch (f.type()) {
                case "RequestHeaderModifier" -> req = headerMutation(f.requestHeaderModifier());
                case "ResponseHeaderModifier" -> resp = headerMutation(f.responseHeaderModifier());
                case "URLRewrite" -> {
                    if (f.urlRewrite() != null) {
                        host = f.urlRewrite().hostname();
                        path = pathModifier(r, ff + ".urlRewrite.path", f.urlRewrite().path(), matches);
                    }
                }
                case "CORS" -> {
                    final HTTPRouteFilter.CORS c = f.cors();
                    if (c != null) {
                        cors = CorsPolicy.of(c.allowOrigins(), c.allowMethods(), c.allowHeaders(), c.exposeHeaders(),
                                c.allowCredentials(), c.maxAge());
                    }
                }
                case "RequestMirror" -> {
                    final HTTPRouteFilter.RequestMirror m = f.requestMirror();
                    if (m == null || m.backendRef() == null) {
                        warn(r, ff + ".requestMirror", "UnsupportedValue", "requestMirror needs a backendRef");
                        break;
                    }
                    final Backend mb = resolveBackend(r, ff + ".requestMirror.backendRef", m.backendRef(), false);
                    if (!(mb instanceof Backend.Forward mf)) {
                        warn(r, ff + ".requestMirror.backendRef", ((Backend.Invalid) mb).reason(),
                                ((Backend.Invalid) mb).message() + "; requests are not mirrored");
                        break;
                    }
                    int num = 1;
                    int den = 1;
                    if (m.percent() != null) {
                        num = m.percent();
                        den = 100;
                    } else if (m.numerator() != null) {
                        num = m.numerator();
                        den = m.denominator() == null ? 100 : m.denominator();
                    }
                    if (den <= 0 || num < 0 || num > den) {
                        warn(r, ff + ".requestMirror", "UnsupportedValue", "mirror fraction must be between 0 and 1");
                        break;
                    }
                    mirrors.add(new RouteAction.Mirror(mf.cluster(), num, den));
                }
                case "RequestRedirect" -> {
                    final HTTPRouteFilter.RequestRedirect rr = f.requestRedirect();
                    if (rr != null) {
                        redirect = new RouteAction.Redirect(rr.scheme(), rr.hostname(), rr.port(),
                                pathModifier(r, ff + ".requestRedirect.path", rr.path(), matches),
                                rr.statusCode() == null ? 302 : rr.statusCode(), null);
                    }
                }
                default -> {
                    warn(r, ff + ".type", "UnsupportedValue", "filter " + f.type()
                            + " is not supported; requests matching this rule get 500");
                    return new FilterSet(RouteAction.Filters.NONE, null, "filter " + f.type() + " unsupported");
                }
            }
        }
        if (redirect != null && resp != null) {
            redirect = new RouteAction.Redirect(redirect.scheme(), redirect.hostname(), redirect.port(),
                    redirect.path(), redirect.statusCode(), resp);
        }
        final RouteAction.Filters fs = req == null && resp == null && host == null && path == null
                && mirrors.isEmpty() && cors == null ? RouteAction.Filters.NONE : new RouteAction.Filters(req, resp,
                host, path, List.copyOf(mirrors), cors);
        return new FilterSet(fs, redirect, null);
    }

    private static HeaderMutation headerMutation(HTTPRouteFilter.HeaderModifier m) {
        if (m == null) {
            return null;
        }
        final List<HeaderMutation.NameValue> set = new ArrayList<>();
        for (HTTPRouteFilter.Header h : m.set()) {
            set.add(new HeaderMutation.NameValue(h.name().toLowerCase(Locale.ROOT), h.value()));
        }
        final List<HeaderMutation.NameValue> add = new ArrayList<>();
        for (HTTPRouteFilter.Header h : m.add()) {
            add.add(new HeaderMutation.NameValue(h.name().toLowerCase(Locale.ROOT), h.value()));
        }
        final List<String> remove = new ArrayList<>();
        for (String s : m.remove()) {
            remove.add(s.toLowerCase(Locale.ROOT));
        }
        return new HeaderMutation(set, add, remove);
    }

    private PathModifier pathModifier(Resource r, String field, HTTPRouteFilter.PathModifier p,
                                      List<MatchSpec> matches) {
        if (p == null) {
            return null;
        }
        if ("ReplaceFullPath".equals(p.type())) {
            return new PathModifier(true, p.replaceFullPath() == null ? "/" : p.replaceFullPath(), "");
        }
        if ("ReplacePrefixMatch".equals(p.type())) {
            // The prefix being replaced is the rule's PathPrefix match (Gateway API requires exactly one kind).
            String prefix = "/";
            for (MatchSpec m : matches) {
                if (m != null && "PathPrefix".equals(m.pathType())) {
                    prefix = trimSlash(m.pathValue());
                    break;
                }
            }
            return new PathModifier(false, p.replacePrefixMatch() == null ? "/" : p.replacePrefixMatch(), prefix);
        }
        warn(r, field + ".type", "UnsupportedValue", "unknown path modifier " + p.type());
        return null;
    }

    /** Strips a trailing slash from a prefix, keeping {@code /} itself. */
    public static String trimSlash(String prefix) {
        return prefix.length() > 1 && prefix.endsWith("/") ? prefix.substring(0, prefix.length() - 1) : prefix;
    }

    private Backend resolveBackend(Resource r, String field, HTTPBackendRef ref, boolean grpc) {
        final String rns = r.metadata().namespace();
        if (!ref.group().isEmpty() || !"Service".equals(ref.kind())) {
            return new Backend.Invalid(500, "InvalidKind", "backendRef kind " + ref.group() + "/" + ref.kind()
                    + " is not supported; only core Service");
        }
        final String ns = ref.namespace() != null ? ref.namespace() : rns;
        if (!ns.equals(rns) && !granted(rns, r.kind(), ns, "", "Service", ref.name())) {
            return new Backend.Invalid(500, "RefNotPermitted", "backendRef to Service " + ns + "/" + ref.name()
                    + " is not permitted by any ReferenceGrant");
        }
        final Service svc = services.get(ns + "/" + ref.name());
        if (svc == null) {
            return new Backend.Invalid(500, "BackendNotFound", "Service " + ns + "/" + ref.name() + " not found");
        }
        if (ref.port() == null) {
            return new Backend.Invalid(500, "BackendNotFound", "backendRef to a Service needs a port");
        }
        Service.ServicePort sp = null;
        for (Service.ServicePort p : svc.ports()) {
            if (p.port() == ref.port()) {
                sp = p;
            }
        }
        if (sp == null) {
            return new Backend.Invalid(500, "BackendNotFound", "Service " + ns + "/" + ref.name()
                    + " has no port " + ref.port());
        }
        final Cluster.Protocol proto;
        final String app = sp.appProtocol();
        final PolicyState policy = policyFor(ns, ref.name(), sp.name());
        if (grpc) {
            proto = Cluster.Protocol.H2C; // gRPC needs HTTP/2 to the backend, whatever the port says
        } else if (app == null || app.equals("http") || app.equals("kubernetes.io/http")) {
            proto = Cluster.Protocol.HTTP1;
        } else if (app.equals("kubernetes.io/h2c")) {
            proto = Cluster.Protocol.H2C;
        } else if (app.equals("kubernetes.io/ws")) {
            proto = Cluster.Protocol.WS;
        } else if (policy != null && (app.equalsIgnoreCase("https") || app.equals("kubernetes.io/https"))) {
            proto = Cluster.Protocol.HTTP1; // HTTP/1.1 inside the TLS the BackendTLSPolicy configures
        } else {
            return new Backend.Invalid(500, "UnsupportedProtocol", "appProtocol " + app + " is not supported");
        }
        UpstreamTls tls = null;
        servicesOfRoute.add(ns + "/" + ref.name());
        if (policy != null) {
            // HTTP/1.1 (and WebSocket) inside TLS, or HTTP/2 inside TLS with ALPN h2 for h2c and gRPC backends.
            tls = policy.tls;
        }
        // One Cluster per Service port, protocol and TLS in a build: every rule that names it shares it (memory at
        // 10,000 routes: a few hundred Services, not tens of thousands of copies). Only reused when building it
        // reported nothing, so that each route still gets its own diagnostics.
        final ClusterKey key = new ClusterKey(ns + "/" + ref.name() + ":" + ref.port(), proto, tls);
        final Backend.Forward shared = clusters.get(key);
        if (shared != null) {
            return shared;
        }
        final int before = diags.size();
        final Backend.Forward built = new Backend.Forward(new Cluster(key.name(), proto,
                endpoints(ns, svc, sp, field, r), loadBalancing(svc), tls, healthCheck(svc)));
        if (diags.size() == before) {
            clusters.put(key, built);
        }
        return built;
    }

    /**
     * The Service's active health check ({@code postern.dev/health-check: tcp|http} and its companions), or null.
     * A bad value warns and turns the check off for that Service: traffic is never stopped by a typo.
     */
    private HealthCheck healthCheck(Service svc) {
        final Map<String, String> a = svc.metadata().annotations();
        final String kind = a.get(HealthCheck.ANNOTATION);
        if (kind == null) {
            return null;
        }
        final String base = "metadata.annotations.";
        final HealthCheck.Kind k = switch (kind) {
            case "tcp" -> HealthCheck.Kind.TCP;
            case "http" -> HealthCheck.Kind.HTTP;
            default -> null;
        };
        if (k == null) {
            warn(svc, base + HealthCheck.ANNOTATION, "UnsupportedValue", "\"" + kind
                    + "\" is not a health check kind (tcp, http); no active health check");
            return null;
        }
        final String path = a.getOrDefault(HealthCheck.PATH_ANNOTATION, "/");
        if (!path.startsWith("/") || path.chars().anyMatch(c -> c <= ' ' || c >= 0x7f)) {
            warn(svc, base + HealthCheck.PATH_ANNOTATION, "UnsupportedValue", "\"" + path
                    + "\" is not an absolute path; no active health check");
            return null;
        }
        final long interval = annotationDuration(svc, a, HealthCheck.INTERVAL_ANNOTATION, 3000);
        final long timeout = annotationDuration(svc, a, HealthCheck.TIMEOUT_ANNOTATION, 1000);
        final int unhealthy = annotationCount(svc, a, HealthCheck.UNHEALTHY_ANNOTATION, 3);
        final int healthy = annotationCount(svc, a, HealthCheck.HEALTHY_ANNOTATION, 1);
        if (interval < 0 || timeout < 0 || unhealthy < 0 || healthy < 0) {
            return null;
        }
        return new HealthCheck(k, path, interval, timeout, unhealthy, healthy);
    }

    /** A positive Gateway API duration annotation in ms, its default when absent, -1 (warned) when invalid. */
    private long annotationDuration(Service svc, Map<String, String> a, String key, long dflt) {
        final String v = a.get(key);
        if (v == null) {
            return dflt;
        }
        final long ms = DURATION.matches(v) ? durationMs(v) : 0;
        if (ms <= 0) {
            warn(svc, "metadata.annotations." + key, "UnsupportedValue", "\"" + v
                    + "\" is not a positive duration such as 3s or 500ms; no active health check");
            return -1;
        }
        return ms;
    }

    /** A positive count annotation, its default when absent, -1 (warned) when invalid. */
    private int annotationCount(Service svc, Map<String, String> a, String key, int dflt) {
        final String v = a.get(key);
        if (v == null) {
            return dflt;
        }
        try {
            final int n = Integer.parseInt(v);
            if (n > 0 && n <= 1000) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        warn(svc, "metadata.annotations." + key, "UnsupportedValue", "\"" + v
                + "\" is not a count from 1 to 1000; no active health check");
        return -1;
    }

    /** The Service's {@code postern.dev/lb-policy} annotation; an unknown value warns and keeps the default. */
    private Cluster.LoadBalancing loadBalancing(Service svc) {
        final String v = svc.metadata().annotations().get(Cluster.LB_POLICY_ANNOTATION);
        if (v == null) {
            return Cluster.LoadBalancing.DEFAULT;
        }
        return switch (v) {
            case "round_robin" -> Cluster.LoadBalancing.ROUND_ROBIN;
            case "least_request" -> Cluster.LoadBalancing.LEAST_REQUEST;
            default -> {
                warn(svc, "metadata.annotations." + Cluster.LB_POLICY_ANNOTATION, "UnsupportedValue",
                        "\"" + v + "\" is not a load-balancing policy (round_robin, least_request); the default "
                        + "applies");
                yield Cluster.LoadBalancing.DEFAULT;
            }
        };
    }

    private List<Endpoint> endpoints(String ns, Service svc, Service.ServicePort sp, String field, Resource r) {
        final List<Endpoint> out = new ArrayList<>();
        final Set<String> seen = new LinkedHashSet<>();
        for (EndpointSlice es : slicesByService.getOrDefault(ns + "/" + svc.metadata().name(), List.of())) {
            Integer port = null;
            for (EndpointSlice.EndpointPort p : es.ports()) {
                if (p.name().equals(sp.name()) && p.port() != null) {
                    port = p.port();
                }
            }
            if (port == null) {
                if (sp.targetPort().chars().allMatch(Character::isDigit) && es.ports().isEmpty()) {
                    port = Integer.parseInt(sp.targetPort());
                } else {
                    continue;
                }
            }
            for (EndpointSlice.Endpoint e : es.endpoints()) {
                if (Boolean.FALSE.equals(e.ready())) {
                    continue;
                }
                for (String a : e.addresses()) {
                    if (!isIpLiteral(a)) {
                        warn(es, "endpoints", "InvalidAddress", "\"" + a + "\" is not an IP address; skipped");
                        continue;
                    }
                    if (seen.add(a + "/" + port)) {
                        out.add(Endpoint.of(a, port));
                    }
                }
            }
        }
        return out;
    }

    private boolean granted(String fromNs, String fromKind, String toNs, String toGroup, String toKind,
                            String toName) {
        for (ReferenceGrant g : in.referenceGrants()) {
            if (!g.metadata().namespace().equals(toNs)) {
                continue;
            }
            boolean fromOk = false;
            for (ReferenceGrant.From f : g.from()) {
                fromOk |= f.group().equals(GW_GROUP) && f.kind().equals(fromKind) && f.namespace().equals(fromNs);
            }
            if (!fromOk) {
                continue;
            }
            for (ReferenceGrant.To t : g.to()) {
                if (t.group().equals(toGroup) && t.kind().equals(toKind)
                        && (t.name() == null || t.name().equals(toName))) {
                    return true;
                }
            }
        }
        return false;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Helpers

    static boolean isIpLiteral(String s) {
        try {
            java.net.InetAddress.ofLiteral(s);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static String lower(String s) {
        return s == null ? null : s.toLowerCase(Locale.ROOT);
    }

    private static boolean eq(String a, String b) {
        return a == null ? b == null : a.equals(b);
    }

    private void error(Resource r, String field, String reason, String message) {
        report(Severity.ERROR, r, field, reason, message);
    }

    private void warn(Resource r, String field, String reason, String message) {
        report(Severity.WARNING, r, field, reason, message);
    }

    private void report(Severity sev, Resource r, String field, String reason, String message) {
        diags.add(new Diagnostic(sev, r.source().file(), r.source().lineOf(field), r.kind(),
                r.metadata().namespace(), r.metadata().name(), field, reason, message));
    }
}
