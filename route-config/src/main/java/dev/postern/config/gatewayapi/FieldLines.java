package dev.postern.config.gatewayapi;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * The line of each field path of one resource, compact: sorted keys (interned, since every resource of a kind has
 * the same paths) and their lines in an {@code int[]}. A watched directory's parsed files stay in memory between
 * reloads, so at 10,000 routes this is the difference between hundreds of thousands of map entries and boxed
 * integers and two arrays per resource. Immutable.
 */
final class FieldLines extends AbstractMap<String, Integer> {
    private final String[] keys;
    /** Each key's line minus {@code base}: resources of the same shape in one file share these arrays. */
    private final int[] lines;
    private final int base;

    /** The arrays of one resource, compared by content so that a file's same-shaped resources share one. */
    private record Shape(String[] keys, int[] lines) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Shape s && Arrays.equals(keys, s.keys) && Arrays.equals(lines, s.lines);
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(keys) + Arrays.hashCode(lines);
        }
    }

    private FieldLines(String[] keys, int[] lines, int base) {
        this.keys = keys;
        this.lines = lines;
        this.base = base;
    }

    /** Copies a map of field paths to lines. */
    static Map<String, Integer> of(Map<String, Integer> m) {
        return of(m, 0, null);
    }

    /**
     * Copies a map of field paths to lines, sharing the arrays with an earlier resource of the same shape (the
     * same paths at the same distances from {@code base}) found in {@code shared}, which it adds to (null: no
     * sharing).
     */
    static Map<String, Integer> of(Map<String, Integer> m, int base, Map<Object, Object> shared) {
        if (m.isEmpty()) {
            return Map.of();
        }
        final String[] k = new String[m.size()];
        int i = 0;
        for (String key : m.keySet()) {
            k[i++] = key.intern();
        }
        Arrays.sort(k);
        final int[] l = new int[k.length];
        for (int j = 0; j < k.length; j++) {
            l[j] = m.get(k[j]) - base;
        }
        Shape s = new Shape(k, l);
        if (shared != null) {
            s = (Shape) shared.computeIfAbsent(s, x -> x);
        }
        return new FieldLines(s.keys(), s.lines(), base);
    }

    @Override
    public Integer get(Object key) {
        if (!(key instanceof String s)) {
            return null;
        }
        final int i = Arrays.binarySearch(keys, s);
        return i >= 0 ? lines[i] + base : null;
    }

    @Override
    public boolean containsKey(Object key) {
        return get(key) != null;
    }

    @Override
    public int size() {
        return keys.length;
    }

    @Override
    public Set<Entry<String, Integer>> entrySet() {
        return new AbstractSet<>() {
            @Override
            public Iterator<Entry<String, Integer>> iterator() {
                return new Iterator<>() {
                    private int i;

                    @Override
                    public boolean hasNext() {
                        return i < keys.length;
                    }

                    @Override
                    public Entry<String, Integer> next() {
                        if (i >= keys.length) {
                            throw new NoSuchElementException();
                        }
                        final int j = i++;
                        return Map.entry(keys[j], lines[j] + base);
                    }
                };
            }

            @Override
            public int size() {
                return keys.length;
            }
        };
    }
}
