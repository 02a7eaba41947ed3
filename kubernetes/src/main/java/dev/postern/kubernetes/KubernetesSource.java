package dev.postern.kubernetes;

import static java.util.Objects.requireNonNull;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;
import dev.postern.config.diag.Diagnostic;
import dev.postern.config.gatewayapi.BackendTLSPolicy;
import dev.postern.config.gatewayapi.ConfigMap;
import dev.postern.config.gatewayapi.Gateway;
import dev.postern.config.gatewayapi.GatewayClass;
import dev.postern.config.gatewayapi.ListenerSet;
import dev.postern.config.gatewayapi.Resource;
import dev.postern.config.gatewayapi.Secret;
import dev.postern.config.runtime.RouteTable;
import dev.postern.config.runtime.TableDiff;
import dev.postern.proxy.server.ConfigSource;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfigBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kubernetes mode: informers on every kind route-config reads feed the same pipeline as the YAML directory, and
 * the result is published into the same {@link ConfigRef}. One replica, elected on a Lease, writes status.
 *
 * <p>Threads: fabric8's informer threads only schedule work. Builds run on one config thread, debounced
 * ({@link Tuning#debounce()}: a burst of events becomes one build); status writes on one status thread, only while
 * this replica holds the Lease. Informers handle relists, 410 Gone, bookmarks and reconnect back-off.
 *
 * <p>What is watched: see {@link WatchedKind}. Secrets are watched with the field selector
 * {@code type=kubernetes.io/tls}, and only those a served Gateway's listeners reference reach the pipeline;
 * ConfigMaps likewise only when a BackendTLSPolicy references them (docs/decisions.md).
 */
public final class KubernetesSource implements ConfigSource {
    private static final Logger LOG = LoggerFactory.getLogger(KubernetesSource.class);

    /** The features the GatewayClass status announces (those the conformance replay passes). */
    public static final List<String> SUPPORTED_FEATURES = dev.postern.config.Features.SUPPORTED;

    /**
     * Timing and identity.
     *
     * @param debounce how long a burst of events must be quiet before a build
     * @param leaseNamespace the namespace of the status Lease
     * @param leaseName the Lease's name
     * @param identity this replica's holder identity (the pod name)
     * @param leaseDuration how long a Lease is valid without renewal
     * @param renewDeadline how long the leader keeps trying to renew before it gives up
     * @param retryPeriod how often candidates retry and the leader renews
     * @param syncTimeout how long startup waits for the first list of every kind
     * @param addressService {@code namespace/name} of the LoadBalancer Service in front of Postern, whose ingress
     *                       addresses become the {@code status.addresses} of Gateways without
     *                       {@code spec.addresses}; null or empty for none
     */
    public record Tuning(Duration debounce, String leaseNamespace, String leaseName, String identity,
                         Duration leaseDuration, Duration renewDeadline, Duration retryPeriod, Duration syncTimeout,
                         String addressService) {
        /** Checks for nulls. */
        public Tuning {
            requireNonNull(debounce, "debounce");
            requireNonNull(leaseNamespace, "leaseNamespace");
            requireNonNull(leaseName, "leaseName");
            requireNonNull(identity, "identity");
            requireNonNull(leaseDuration, "leaseDuration");
            requireNonNull(renewDeadline, "renewDeadline");
            requireNonNull(retryPeriod, "retryPeriod");
            requireNonNull(syncTimeout, "syncTimeout");
        }

        /** The defaults: 20 ms debounce, the Lease {@code postern-status} held 15 s, renewed every 2 s. */
        public static Tuning defaults(String leaseNamespace, String identity) {
            return new Tuning(Duration.ofMillis(20), leaseNamespace, "postern-status", identity,
                    Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofSeconds(2), Duration.ofSeconds(60),
                    null);
        }

        /** The same with the LoadBalancer Service whose addresses Gateways report. */
        public Tuning withAddressService(String namespacedName) {
            return new Tuning(debounce, leaseNamespace, leaseName, identity, leaseDuration, renewDeadline,
                    retryPeriod, syncTimeout, namespacedName);
        }
    }

    private record Watched(WatchedKind kind, SharedIndexInformer<? extends HasMetadata> informer) {
    }

    private final KubernetesClient client;
    private final ConfigSource.Options options;
    private final Tuning tuning;
    private final List<Watched> watched = new ArrayList<>();
    private final InputConverter converter;
    private final StatusWriter statusWriter;
    private final ScheduledExecutorService configThread = Executors.newSingleThreadScheduledExecutor(
            r -> daemon(r, "postern-k8s-config"));
    private final ScheduledExecutorService statusThread = Executors.newSingleThreadScheduledExecutor(
            r -> daemon(r, "postern-k8s-status"));
    private final AtomicBoolean buildPending = new AtomicBoolean();
    private final AtomicBoolean statusPending = new AtomicBoolean();
    private final AtomicLong version = new AtomicLong();
    private volatile boolean synced;
    private volatile boolean leader;
    private volatile boolean closed;
    private volatile CompletableFuture<?> election;
    private Set<String> lastDiagnostics = Set.of();
    /** {@code kind/namespace/name} of what the last build read (tests check the Secret filter with it). */
    private volatile List<String> lastInput = List.of();

    private KubernetesSource(KubernetesClient client, ConfigSource.Options options, Tuning tuning) {
        this.client = client;
        this.options = options;
        this.tuning = tuning;
        this.converter = new InputConverter(client.getKubernetesSerialization());
        this.statusWriter = new StatusWriter(client, options.settings().controllerName(), SUPPORTED_FEATURES,
                this::genericObjects, this::loadBalancerAddresses, Clock.systemUTC());
    }

    /**
     * Starts watching: every informer lists its kind, then the first build is scheduled and this replica joins
     * the status election. The client stays owned by the caller until {@link #close()}, which closes it.
     *
     * @throws KubernetesClientException when a required kind cannot be listed (RBAC, no CRDs)
     * @throws TimeoutException when the first lists take longer than {@link Tuning#syncTimeout()}
     */
    public static KubernetesSource start(KubernetesClient client, ConfigSource.Options options, Tuning tuning)
            throws InterruptedException, TimeoutException {
        requireNonNull(client, "client");
        requireNonNull(options, "options");
        requireNonNull(tuning, "tuning");
        final KubernetesSource s = new KubernetesSource(client, options, tuning);
        try {
            s.startInformers();
        } catch (RuntimeException | InterruptedException | TimeoutException e) {
            s.close();
            throw e;
        }
        s.synced = true;
        s.scheduleBuild();
        s.elect();
        return s;
    }

    private static Thread daemon(Runnable r, String name) {
        final Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private void startInformers() throws InterruptedException, TimeoutException {
        for (WatchedKind k : WatchedKind.GATEWAY_API) {
            final var op = client.genericKubernetesResources(k.context());
            watched.add(new Watched(k, k.namespaced() ? op.inAnyNamespace().runnableInformer(0)
                    : op.runnableInformer(0)));
        }
        watched.add(new Watched(WatchedKind.SERVICE, client.services().inAnyNamespace().runnableInformer(0)));
        watched.add(new Watched(WatchedKind.ENDPOINT_SLICE,
                client.discovery().v1().endpointSlices().inAnyNamespace().runnableInformer(0)));
        watched.add(new Watched(WatchedKind.SECRET, client.secrets().inAnyNamespace()
                .withField("type", "kubernetes.io/tls").runnableInformer(0)));
        watched.add(new Watched(WatchedKind.CONFIG_MAP, client.configMaps().inAnyNamespace().runnableInformer(0)));
        watched.add(new Watched(WatchedKind.NAMESPACE, client.namespaces().runnableInformer(0)));
        final List<CompletableFuture<Void>> started = new ArrayList<>();
        for (Watched w : watched) {
            addHandler(w);
            // A watch error after the first list: keep retrying with the informer's back-off, loudly.
            w.informer().exceptionHandler((isStarted, t) -> {
                LOG.warn("watch of {} failed ({}); retrying", w.kind().kind(), t.toString());
                return isStarted || !(t instanceof KubernetesClientException kce && kce.getCode() == 404);
            });
            started.add(w.informer().start().toCompletableFuture());
        }
        final long deadline = System.nanoTime() + tuning.syncTimeout().toNanos();
        for (int i = 0; i < watched.size(); i++) {
            final Watched w = watched.get(i);
            try {
                started.get(i).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                throw new TimeoutException("no first list of " + w.kind().plural() + " (" + w.kind().apiVersion()
                        + ") within " + tuning.syncTimeout().toSeconds() + " s: the API server is unreachable or"
                        + " RBAC forbids list/watch (the log has each attempt's error)");
            } catch (ExecutionException e) {
                final Throwable c = e.getCause();
                if (w.kind().optional() && c instanceof KubernetesClientException kce && kce.getCode() == 404) {
                    LOG.warn("{} ({}) is not served by this cluster: its objects are ignored (install the CRD"
                            + " and restart to serve them)", w.kind().kind(), w.kind().apiVersion());
                    w.informer().stop();
                    continue;
                }
                throw c instanceof KubernetesClientException kce ? kce
                        : new KubernetesClientException("cannot list " + w.kind().plural() + ": " + c, c);
            }
        }
        LOG.info("watching {} kinds", watched.size());
    }

    private void addHandler(Watched w) {
        final boolean gatewayApi = !w.kind().group().isEmpty() && w.kind().group().equals(WatchedKind.GW);
        @SuppressWarnings("unchecked")
        final SharedIndexInformer<HasMetadata> inf = (SharedIndexInformer<HasMetadata>) w.informer();
        inf.addEventHandler(new ResourceEventHandler<HasMetadata>() {
            @Override
            public void onAdd(HasMetadata obj) {
                scheduleBuild();
            }

            @Override
            public void onUpdate(HasMetadata before, HasMetadata after) {
                if (gatewayApi && sameSpec(before, after)) {
                    // Only status (or an annotation) moved: nothing to rebuild, but check it is still ours.
                    scheduleStatus(Duration.ZERO);
                    return;
                }
                if (Objects.equals(before.getMetadata().getResourceVersion(),
                        after.getMetadata().getResourceVersion())) {
                    return; // a resync
                }
                scheduleBuild();
            }

            @Override
            public void onDelete(HasMetadata obj, boolean deletedFinalStateUnknown) {
                scheduleBuild();
            }
        });
    }

    /** Gateway API objects bump generation on spec changes; labels matter for namespace selectors only. */
    private static boolean sameSpec(HasMetadata a, HasMetadata b) {
        return a.getMetadata().getGeneration() != null
                && Objects.equals(a.getMetadata().getGeneration(), b.getMetadata().getGeneration())
                && Objects.equals(a.getMetadata().getLabels(), b.getMetadata().getLabels());
    }

    private void scheduleBuild() {
        if (synced && !closed && buildPending.compareAndSet(false, true)) {
            configThread.schedule(this::build, tuning.debounce().toNanos(), TimeUnit.NANOSECONDS);
        }
    }

    private void build() {
        buildPending.set(false);
        try {
            final List<Resource> in = collect();
            lastInput = in.stream().map(r -> r.kind() + "/" + r.metadata().namespace() + "/" + r.metadata().name())
                    .toList();
            final ConfigPipeline.Build b = ConfigPipeline.fromResources(in, options.settings(),
                    version.incrementAndGet());
            logNewDiagnostics(b.diagnostics());
            final RouteTable before = options.ref().table();
            final boolean published = options.ref().offer(b);
            options.onBuild().accept(b);
            if (published) {
                LOG.info("config version {} published from {} objects in {} ms: {}", b.table().version(),
                        in.size(), b.buildNanos() / 1_000_000, TableDiff.describe(before, b.table()));
                scheduleStatus(Duration.ZERO);
            } else {
                LOG.error("config rejected; still serving version {}", options.ref().table().version());
            }
        } catch (RuntimeException e) {
            // Never let one bad build stop the config thread: the live table keeps serving.
            LOG.error("config build failed; still serving version {}", options.ref().table().version(), e);
        }
    }

    /** Every cached object as a pipeline record, in a stable order; Secrets and ConfigMaps only when referenced. */
    private List<Resource> collect() {
        converter.beginBuild();
        final List<Resource> all = new ArrayList<>();
        for (Watched w : watched) {
            if (!w.informer().isRunning() && !w.informer().hasSynced()) {
                continue;
            }
            for (HasMetadata obj : w.informer().getStore().list()) {
                final Resource r = converter.convert(w.kind(), obj);
                if (r != null) {
                    all.add(r);
                }
            }
        }
        converter.endBuild();
        all.sort(Comparator.comparing(Resource::kind)
                .thenComparing(r -> r.metadata().creationTimestamp())
                .thenComparing(r -> r.metadata().namespace())
                .thenComparing(r -> r.metadata().name()));
        final Set<String> ourClasses = new HashSet<>();
        for (Resource r : all) {
            if (r instanceof GatewayClass gc && options.settings().controllerName().equals(gc.controllerName())) {
                ourClasses.add(gc.metadata().name());
            }
        }
        final Set<String> ourGateways = new HashSet<>();
        for (Resource r : all) {
            if (r instanceof Gateway gw && ourClasses.contains(gw.gatewayClassName())) {
                ourGateways.add(gw.metadata().namespace() + "/" + gw.metadata().name());
            }
        }
        final Set<String> secrets = new HashSet<>();
        final Set<String> configMaps = new HashSet<>();
        for (Resource r : all) {
            if (r instanceof ListenerSet ls && ourGateways.contains(Objects.requireNonNullElse(
                    ls.parentRef().namespace(), ls.metadata().namespace()) + "/" + ls.parentRef().name())) {
                // A ListenerSet's certificateRefs default to its own namespace (the translator checks grants).
                for (Gateway.Listener l : ls.listeners()) {
                    if (l.tls() != null) {
                        for (Gateway.SecretObjectReference ref : l.tls().certificateRefs()) {
                            secrets.add(Objects.requireNonNullElse(ref.namespace(), ls.metadata().namespace()) + "/"
                                    + ref.name());
                        }
                    }
                }
            } else if (r instanceof Gateway gw && ourClasses.contains(gw.gatewayClassName())) {
                final Gateway.SecretObjectReference client = gw.backendClientCertificateRef();
                if (client != null) {
                    secrets.add(Objects.requireNonNullElse(client.namespace(), gw.metadata().namespace()) + "/"
                            + client.name());
                }
                for (Gateway.Listener l : gw.listeners()) {
                    if (l.tls() == null) {
                        continue;
                    }
                    for (Gateway.SecretObjectReference ref : l.tls().certificateRefs()) {
                        secrets.add(Objects.requireNonNullElse(ref.namespace(), gw.metadata().namespace()) + "/"
                                + ref.name());
                    }
                }
            } else if (r instanceof BackendTLSPolicy p && p.validation() != null) {
                for (BackendTLSPolicy.CARef ca : p.validation().caCertificateRefs()) {
                    configMaps.add(p.metadata().namespace() + "/" + ca.name());
                }
            }
        }
        final List<Resource> out = new ArrayList<>(all.size());
        for (Resource r : all) {
            final String key = r.metadata().namespace() + "/" + r.metadata().name();
            if (r instanceof Secret && !secrets.contains(key) || r instanceof ConfigMap && !configMaps.contains(key)) {
                continue;
            }
            out.add(r);
        }
        return out;
    }

    private void logNewDiagnostics(List<Diagnostic> diags) {
        final Set<String> now = new LinkedHashSet<>();
        for (Diagnostic d : diags) {
            final String s = d.toString();
            now.add(s);
            if (!lastDiagnostics.contains(s)) {
                if (d.isError()) {
                    LOG.error("{}", s);
                } else {
                    LOG.warn("{}", s);
                }
            }
        }
        lastDiagnostics = now;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Status

    @SuppressWarnings("unchecked")
    private List<GenericKubernetesResource> genericObjects(WatchedKind kind) {
        for (Watched w : watched) {
            if (w.kind().equals(kind)) {
                return (List<GenericKubernetesResource>) (List<?>) w.informer().getStore().list();
            }
        }
        return List.of();
    }

    /** The ingress of {@link Tuning#addressService()}: IPs as IPAddress, names (an NLB's) as Hostname. */
    private List<Map<String, Object>> loadBalancerAddresses() {
        final String key = tuning.addressService();
        if (key == null || key.isEmpty()) {
            return List.of();
        }
        for (Watched w : watched) {
            if (w.kind().equals(WatchedKind.SERVICE)) {
                final HasMetadata o = w.informer().getStore().getByKey(key);
                if (!(o instanceof io.fabric8.kubernetes.api.model.Service svc) || svc.getStatus() == null
                        || svc.getStatus().getLoadBalancer() == null
                        || svc.getStatus().getLoadBalancer().getIngress() == null) {
                    return List.of();
                }
                final List<Map<String, Object>> out = new ArrayList<>();
                for (var ing : svc.getStatus().getLoadBalancer().getIngress()) {
                    if (ing.getIp() != null && !ing.getIp().isEmpty()) {
                        out.add(address("IPAddress", ing.getIp()));
                    } else if (ing.getHostname() != null && !ing.getHostname().isEmpty()) {
                        out.add(address("Hostname", ing.getHostname()));
                    }
                }
                return out;
            }
        }
        return List.of();
    }

    private static Map<String, Object> address(String type, String value) {
        final Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("type", type);
        m.put("value", value);
        return m;
    }

    private void scheduleStatus(Duration delay) {
        if (leader && !closed && options.ref().isPublished() && statusPending.compareAndSet(false, true)) {
            statusThread.schedule(this::writeStatus, delay.toNanos(), TimeUnit.NANOSECONDS);
        }
    }

    private void writeStatus() {
        statusPending.set(false);
        if (!leader || closed) {
            return;
        }
        boolean ok;
        try {
            ok = statusWriter.write(options.ref().snapshot().statuses());
        } catch (RuntimeException e) {
            LOG.warn("status write failed", e);
            ok = false;
        }
        if (!ok) {
            scheduleStatus(tuning.retryPeriod());
        }
    }

    /** {@code kind/namespace/name} of every record the last build read. */
    List<String> lastInput() {
        return lastInput;
    }

    /** True while this replica holds the status Lease. */
    public boolean isLeader() {
        return leader;
    }

    /** How many status patches this replica has sent. */
    public long statusPatches() {
        return statusWriter.patches();
    }

    private void elect() {
        if (closed) {
            return;
        }
        final var config = new LeaderElectionConfigBuilder()
                .withName("postern-status")
                .withLock(new LeaseLock(tuning.leaseNamespace(), tuning.leaseName(), tuning.identity()))
                .withLeaseDuration(tuning.leaseDuration())
                .withRenewDeadline(tuning.renewDeadline())
                .withRetryPeriod(tuning.retryPeriod())
                .withReleaseOnCancel(true)
                .withLeaderCallbacks(new LeaderCallbacks(
                        () -> {
                            LOG.info("{} holds the Lease {}/{}: writing status", tuning.identity(),
                                    tuning.leaseNamespace(), tuning.leaseName());
                            leader = true;
                            scheduleStatus(Duration.ZERO);
                        },
                        () -> {
                            LOG.info("{} no longer holds the Lease: not writing status", tuning.identity());
                            leader = false;
                        },
                        id -> LOG.info("status leader: {}", id)))
                .build();
        final CompletableFuture<?> f = client.leaderElector().withConfig(config).build().start();
        election = f;
        // The elector returns after losing the Lease; stay a candidate until closed.
        f.whenComplete((x, e) -> {
            leader = false;
            if (!closed) {
                statusThread.schedule(this::elect, tuning.retryPeriod().toMillis(), TimeUnit.MILLISECONDS);
            }
        });
    }

    // ---------------------------------------------------------------------------------------------------------

    @Override
    public String describe() {
        return "kubernetes (" + client.getMasterUrl() + ", controllerName " + options.settings().controllerName()
                + ", status Lease " + tuning.leaseNamespace() + "/" + tuning.leaseName() + " as "
                + tuning.identity() + ")";
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        final CompletableFuture<?> f = election;
        if (f != null) {
            f.cancel(true); // releaseOnCancel: the Lease is given up so another replica takes over at once
        }
        leader = false;
        for (Watched w : watched) {
            w.informer().stop();
        }
        configThread.shutdownNow();
        statusThread.shutdownNow();
        client.close();
    }
}
