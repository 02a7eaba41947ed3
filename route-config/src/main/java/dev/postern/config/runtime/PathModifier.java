package dev.postern.config.runtime;

/**
 * A compiled path rewrite: replace the whole path, or replace the matched prefix.
 *
 * @param fullPath true for ReplaceFullPath, false for ReplacePrefixMatch
 * @param value the replacement
 * @param matchedPrefix for ReplacePrefixMatch, the route's PathPrefix value (without a trailing slash)
 */
public record PathModifier(boolean fullPath, String value, String matchedPrefix) {

    /**
     * Applies the rewrite to a path (no query). Prefix replacement follows Gateway API: {@code /foo} with prefix
     * {@code /foo} replaced by {@code /bar} gives {@code /bar}; {@code /foo/x} gives {@code /bar/x}; a replacement of
     * {@code /} gives {@code /x}, never {@code //x}.
     */
    public String apply(String path) {
        if (fullPath) {
            return value;
        }
        final String rest = path.length() >= matchedPrefix.length() ? path.substring(matchedPrefix.length()) : "";
        String repl = value;
        if (repl.endsWith("/") && rest.startsWith("/")) {
            repl = repl.substring(0, repl.length() - 1);
        }
        final String out = repl + rest;
        if (out.isEmpty()) {
            return "/";
        }
        if (!rest.isEmpty() && !rest.startsWith("/") && !repl.endsWith("/")) {
            return repl + "/" + rest;
        }
        return out.startsWith("/") ? out : "/" + out;
    }
}
