package dev.postern.config.runtime;

/**
 * What a route matcher may read of a request. Implemented by the data plane over its own header type, so that
 * route-config stays free of Netty. Implementations must not allocate on these calls where they can avoid it.
 */
public interface RequestView {
    /** The method, upper case as received (GET, POST...). */
    String method();

    /** The path without the query, as it will be matched (already normalized by the data plane). */
    String path();

    /** The raw query string without the leading {@code ?}, or null when there is none. */
    String query();

    /** The first value of a header (the name is matched case-insensitively), or null when absent. */
    String header(String lowerCaseName);
}
