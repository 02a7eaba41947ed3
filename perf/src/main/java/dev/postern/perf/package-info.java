/**
 * Postern's JMH benchmarks: route lookup at 10,000 HTTPRoutes, hostname match, the client-address header policy,
 * request-head parsing, the full config compile and reload propagation. Every benchmark asserts its result, so a
 * broken lookup fails the run instead of measuring nothing. The side-by-side load harness is {@code perf/run}.
 *
 * <p>Starting points: {@link dev.postern.perf.RouteCorpus} (the generated Gateway API config and the probes with
 * their expected routes), {@link dev.postern.perf.RouteLookupBenchmark}, {@link dev.postern.perf.CompileBenchmark},
 * {@link dev.postern.perf.ReloadBenchmark}. Run them with {@code perf/jmh}; see {@code perf/README.md}.
 */
package dev.postern.perf;
