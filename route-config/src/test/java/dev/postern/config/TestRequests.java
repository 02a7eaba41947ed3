package dev.postern.config;

import dev.postern.config.runtime.RequestView;

import java.util.Locale;
import java.util.Map;

/** A request for matcher tests. */
record TestRequests(String method, String path, String query, Map<String, String> headers) implements RequestView {

    static TestRequests get(String target) {
        return of("GET", target, Map.of());
    }

    static TestRequests of(String method, String target, Map<String, String> headers) {
        final int q = target.indexOf('?');
        return new TestRequests(method, q < 0 ? target : target.substring(0, q), q < 0 ? null
                : target.substring(q + 1), headers);
    }

    @Override
    public String header(String lowerCaseName) {
        for (Map.Entry<String, String> e : headers.entrySet()) {
            if (e.getKey().toLowerCase(Locale.ROOT).equals(lowerCaseName)) {
                return e.getValue();
            }
        }
        return null;
    }
}
