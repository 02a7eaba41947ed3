package dev.postern.config.runtime;

import java.util.Map;

/**
 * An immutable string-keyed hash map that can be probed with a region of a larger string, so that looking up a
 * path prefix or a hostname suffix allocates nothing. Open addressing with linear probing over a power-of-two
 * table at most half full; the hash is {@link String#hashCode()}'s, computed over the region.
 *
 * @param <V> the value type
 */
final class RegionMap<V> {
    private final String[] keys;
    private final Object[] values;
    private final int mask;

    RegionMap(Map<String, V> m) {
        int cap = 4;
        while (cap < m.size() * 2) {
            cap <<= 1;
        }
        keys = new String[cap];
        values = new Object[cap];
        mask = cap - 1;
        for (Map.Entry<String, V> e : m.entrySet()) {
            int i = spread(e.getKey().hashCode()) & mask;
            while (keys[i] != null) {
                i = (i + 1) & mask;
            }
            keys[i] = e.getKey();
            values[i] = e.getValue();
        }
    }

    private static int spread(int h) {
        return h ^ (h >>> 16);
    }

    /** The value for the key equal to {@code s[from, to)}, or null. */
    V get(String s, int from, int to) {
        int h = 0;
        for (int i = from; i < to; i++) {
            h = 31 * h + s.charAt(i);
        }
        return probe(s, from, to - from, h);
    }

    /** The value for {@code key}, or null. */
    V get(String key) {
        return probe(key, 0, key.length(), key.hashCode());
    }

    @SuppressWarnings("unchecked")
    private V probe(String s, int from, int len, int h) {
        for (int i = spread(h) & mask; ; i = (i + 1) & mask) {
            final String k = keys[i];
            if (k == null) {
                return null;
            }
            if (k.length() == len && k.hashCode() == h && k.regionMatches(0, s, from, len)) {
                return (V) values[i];
            }
        }
    }

    boolean isEmpty() {
        for (String k : keys) {
            if (k != null) {
                return false;
            }
        }
        return true;
    }
}
