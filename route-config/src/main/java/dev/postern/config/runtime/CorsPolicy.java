package dev.postern.config.runtime;

import com.google.re2j.Pattern;

import java.util.List;
import java.util.Locale;

/**
 * A compiled HTTPRoute CORS filter. Origins are exact ({@code https://www.foo.com}), wildcard ({@code https://*.bar.com},
 * where {@code *} stands for one or more labels) or {@code *} for any.
 *
 * @param allowMethods allowed methods; {@code *} allows any
 * @param allowHeaders allowed request headers; {@code *} allows any
 * @param exposeHeaders headers the browser may read
 * @param allowCredentials whether credentials are allowed
 * @param maxAgeSeconds how long a preflight may be cached, or -1 for unset
 */
public record CorsPolicy(List<String> allowOrigins, List<Pattern> originPatterns, boolean anyOrigin,
                         List<String> allowMethods, List<String> allowHeaders, List<String> exposeHeaders,
                         boolean allowCredentials, int maxAgeSeconds) {

    /** Compiles the origins. */
    public static CorsPolicy of(List<String> origins, List<String> methods, List<String> headers, List<String> expose,
                                boolean credentials, Integer maxAge) {
        boolean any = false;
        final List<Pattern> patterns = new java.util.ArrayList<>();
        for (String o : origins) {
            if (o.equals("*")) {
                any = true;
            } else {
                final String lower = o.toLowerCase(Locale.ROOT);
                final StringBuilder re = new StringBuilder();
                final String[] parts = lower.split("\\*", -1);
                for (int i = 0; i < parts.length; i++) {
                    if (i > 0) {
                        re.append("[^/]+");
                    }
                    re.append(Pattern.quote(parts[i]));
                }
                patterns.add(Pattern.compile(re.toString()));
            }
        }
        return new CorsPolicy(List.copyOf(origins), List.copyOf(patterns), any, List.copyOf(methods),
                List.copyOf(headers), List.copyOf(expose), credentials, maxAge == null ? -1 : maxAge);
    }

    /** Returns true when the origin is allowed. */
    public boolean allows(String origin) {
        if (anyOrigin) {
            return true;
        }
        final String o = origin.toLowerCase(Locale.ROOT);
        for (Pattern p : originPatterns) {
            if (p.matches(o)) {
                return true;
            }
        }
        return false;
    }
}
