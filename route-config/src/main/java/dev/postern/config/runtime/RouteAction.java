package dev.postern.config.runtime;

import java.util.List;

/**
 * What a matched route does. Request filters run in the order the route lists them, before the action.
 */
public sealed interface RouteAction {

    /**
     * Filters applied to the request and the response of a forwarded exchange.
     *
     * @param mirrors request mirrors, empty when none
     * @param cors the CORS policy, or null
     */
    record Filters(HeaderMutation requestHeaders, HeaderMutation responseHeaders, String hostRewrite,
                   PathModifier pathRewrite, List<Mirror> mirrors, CorsPolicy cors) {
        /** No filters. */
        public static final Filters NONE = new Filters(null, null, null, null, List.of(), null);
    }

    /**
     * A RequestMirror: a copy of the request goes to {@code cluster} for {@code numerator/denominator} of the
     * requests; its response is dropped.
     */
    record Mirror(Cluster cluster, int numerator, int denominator) {
    }

    /**
     * HTTPRoute timeouts, in milliseconds; 0 means none.
     *
     * @param requestMs bounds the whole exchange, from the request to the end of the response
     * @param backendRequestMs bounds each try to the backend
     */
    record Timeouts(long requestMs, long backendRequestMs) {
        /** No timeouts. */
        public static final Timeouts NONE = new Timeouts(0, 0);
    }

    /**
     * HTTPRoute retry: up to {@code attempts} retries after the first try, on the listed status codes and on
     * connection failures before a response, waiting {@code backoffMs} between tries.
     *
     * @param codes the retriable status codes, sorted
     */
    record Retry(int attempts, int[] codes, long backoffMs) {
        /** No retries. */
        public static final Retry NONE = new Retry(0, new int[0], 0);

        /** Returns true when {@code status} is retriable. */
        public boolean retriable(int status) {
            return java.util.Arrays.binarySearch(codes, status) >= 0;
        }
    }

    /**
     * Forward to one of the weighted backends.
     *
     * @param backends the backends
     * @param cumulativeWeights running sums of the weights, same length as {@code backends}
     * @param filters request and response filters; {@link Filters#NONE} when none
     * @param backendFilters per-backend request/response filters, same length as {@code backends}
     * @param timeouts the rule's timeouts
     * @param retry the rule's retry policy
     */
    record Forward(List<Backend> backends, int[] cumulativeWeights, Filters filters, List<Filters> backendFilters,
                   Timeouts timeouts, Retry retry) implements RouteAction {

        /** Builds the cumulative weights. */
        public static Forward of(List<Backend> backends, List<Integer> weights, Filters filters,
                                 List<Filters> backendFilters, Timeouts timeouts, Retry retry) {
            final int[] cum = new int[weights.size()];
            int sum = 0;
            for (int i = 0; i < cum.length; i++) {
                sum += weights.get(i);
                cum[i] = sum;
            }
            return new Forward(List.copyOf(backends), cum, filters, List.copyOf(backendFilters), timeouts, retry);
        }

        /** The sum of the weights; 0 means every backend has weight 0 (answered 500). */
        public int totalWeight() {
            return cumulativeWeights.length == 0 ? 0 : cumulativeWeights[cumulativeWeights.length - 1];
        }

        /** Picks the backend index for a draw in {@code [0, totalWeight())}. */
        public int pick(int draw) {
            int lo = 0;
            int hi = cumulativeWeights.length - 1;
            while (lo < hi) {
                final int mid = (lo + hi) >>> 1;
                if (cumulativeWeights[mid] > draw) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            return lo;
        }
    }

    /**
     * Answer directly, without an upstream (for example 500 for a rule whose backends are all invalid).
     */
    record Direct(int status, String body, String reason) implements RouteAction {
    }

    /**
     * A RequestRedirect. Absent parts are null and keep the request's own value.
     *
     * @param port the port, or null to derive from the scheme per Gateway API
     */
    record Redirect(String scheme, String hostname, Integer port, PathModifier path, int statusCode,
                    HeaderMutation responseHeaders) implements RouteAction {
    }
}
