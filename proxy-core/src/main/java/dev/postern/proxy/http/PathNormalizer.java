package dev.postern.proxy.http;

import java.util.ArrayList;

/**
 * The request path as routing and the backend see it (issue 9): RFC 3986 §5.2.4 dot-segment removal, always,
 * with {@code %2e} counted as a dot (as Envoy's {@code normalize_path}, which uses Chromium's canonicalizer, does);
 * then, by policy, adjacent slashes merged (Envoy's {@code merge_slashes}) and percent-encoded slashes
 * ({@code %2F}, {@code %5C}) kept, rejected, or unescaped (Envoy's {@code path_with_escaped_slashes_action}).
 *
 * <p>The path routed is the path forwarded: the exchange matches and sends the one string this returns.
 *
 * <p>Cost: one scan without allocation when the path is already normal (the common case); the path is rebuilt
 * only when a dot segment, a double slash to merge or an escaped slash to act on is found.
 */
public final class PathNormalizer {
    /** What to do with {@code %2F} and {@code %5C} in a path. */
    public enum EscapedSlashes {
        /** Forward them as received (Envoy's default). */
        KEEP_UNCHANGED,
        /** 400. */
        REJECT_REQUEST,
        /** 307 to the path with them unescaped (and normalized). */
        UNESCAPE_AND_REDIRECT,
        /** Unescape them, normalize again, then route and forward. */
        UNESCAPE_AND_FORWARD
    }

    /**
     * The bootstrap's path policy.
     *
     * @param mergeSlashes merge adjacent slashes ({@code //a///b} is {@code /a/b})
     * @param escapedSlashes what to do with percent-encoded slashes
     */
    public record Policy(boolean mergeSlashes, EscapedSlashes escapedSlashes) {
        /** Envoy's defaults: no merging, escaped slashes kept. */
        public static final Policy DEFAULTS = new Policy(false, EscapedSlashes.KEEP_UNCHANGED);
    }

    /** Returned by {@link #normalize} for a path the policy rejects (the identity matters, not the text). */
    public static final String REJECT = new String("reject");

    private PathNormalizer() {
    }

    /**
     * Normalizes an origin-form path (starting with {@code /}, without query).
     *
     * @return {@code path} itself when it is already normal, a new string when it changed, {@link #REJECT} when
     *     the policy rejects it
     */
    public static String normalize(String path, Policy policy) {
        if (!needsWork(path, policy)) {
            return path;
        }
        String p = path;
        if (policy.escapedSlashes() != EscapedSlashes.KEEP_UNCHANGED && hasEscapedSlash(p)) {
            if (policy.escapedSlashes() == EscapedSlashes.REJECT_REQUEST) {
                return REJECT;
            }
            p = unescapeSlashes(p);
        }
        final String out = rebuild(p, policy.mergeSlashes());
        return out.equals(path) ? path : out;
    }

    /** True when {@code path} holds {@code %2F} or {@code %5C} (any case). */
    public static boolean hasEscapedSlash(String path) {
        for (int i = path.indexOf('%'); i >= 0 && i + 2 < path.length(); i = path.indexOf('%', i + 1)) {
            if (escapedSlashAt(path, i)) {
                return true;
            }
        }
        return false;
    }

    private static boolean escapedSlashAt(String p, int i) {
        final char a = p.charAt(i + 1);
        final char b = (char) (p.charAt(i + 2) | 0x20);
        return (a == '2' && b == 'f') || (a == '5' && b == 'c');
    }

    /** The allocation-free scan: a dot segment, a double slash to merge, or an escaped slash to act on. */
    private static boolean needsWork(String p, Policy policy) {
        final int n = p.length();
        final boolean escapes = policy.escapedSlashes() != EscapedSlashes.KEEP_UNCHANGED;
        for (int i = 0; i < n; i++) {
            final char c = p.charAt(i);
            if (c == '/') {
                int end = i + 1;
                while (end < n && p.charAt(end) != '/') {
                    end++;
                }
                if (dots(p, i + 1, end) > 0 || (policy.mergeSlashes() && end == i + 1 && end < n)) {
                    return true;
                }
            } else if (c == '%' && escapes && i + 2 < n && escapedSlashAt(p, i)) {
                return true;
            }
        }
        return false;
    }

    /** 1 for a {@code .} segment, 2 for {@code ..} ({@code %2e} counting as a dot), else 0. */
    private static int dots(String p, int from, int to) {
        int count = 0;
        int i = from;
        while (i < to) {
            if (p.charAt(i) == '.') {
                i++;
            } else if (i + 3 <= to && p.charAt(i) == '%' && p.charAt(i + 1) == '2'
                    && (p.charAt(i + 2) | 0x20) == 'e') {
                i += 3;
            } else {
                return 0;
            }
            if (++count > 2) {
                return 0;
            }
        }
        return count;
    }

    private static String unescapeSlashes(String p) {
        final StringBuilder sb = new StringBuilder(p.length());
        for (int i = 0; i < p.length(); i++) {
            final char c = p.charAt(i);
            if (c == '%' && i + 2 < p.length() && escapedSlashAt(p, i)) {
                sb.append(p.charAt(i + 1) == '2' ? '/' : '\\');
                i += 2;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    /** RFC 3986 §5.2.4 over segments, merging empty ones when asked; keeps a trailing slash. */
    private static String rebuild(String p, boolean merge) {
        final ArrayList<String> out = new ArrayList<>();
        final int n = p.length();
        int i = 1;
        while (true) {
            int j = p.indexOf('/', i);
            if (j < 0) {
                j = n;
            }
            final boolean last = j == n;
            final int d = dots(p, i, j);
            if (d == 2 && !out.isEmpty()) {
                out.removeLast();
            }
            if (d > 0) {
                if (last) {
                    out.add(""); // "/a/b/.." is "/a/"
                }
            } else if (!(merge && i == j && !last)) {
                out.add(p.substring(i, j));
            }
            if (last) {
                break;
            }
            i = j + 1;
        }
        if (out.isEmpty()) {
            return "/";
        }
        final StringBuilder sb = new StringBuilder(n);
        for (String s : out) {
            sb.append('/').append(s);
        }
        return sb.toString();
    }
}
