package dev.postern.conformance;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * Reads the gRPC echo's EchoResponse (grpcecho.proto): assertions.fully_qualified_method (1.1),
 * assertions.context.namespace (1.4.1) and assertions.context.pod (1.4.4). A minimal protobuf reader.
 */
final class GrpcEcho {
    private GrpcEcho() {
    }

    static Map<String, String> parse(byte[] response) {
        final Map<String, String> out = new HashMap<>();
        final byte[] assertions = field(response, 1);
        if (assertions == null) {
            return out;
        }
        final byte[] fqm = field(assertions, 1);
        out.put("method", fqm == null ? "" : new String(fqm, StandardCharsets.UTF_8));
        final byte[] ctx = field(assertions, 4);
        if (ctx != null) {
            final byte[] ns = field(ctx, 1);
            final byte[] pod = field(ctx, 4);
            out.put("namespace", ns == null ? "" : new String(ns, StandardCharsets.UTF_8));
            out.put("pod", pod == null ? "" : new String(pod, StandardCharsets.UTF_8));
        }
        return out;
    }

    /** The first length-delimited field with this number, or null. */
    private static byte[] field(byte[] b, int number) {
        int i = 0;
        while (i < b.length) {
            final long[] tag = varint(b, i);
            i = (int) tag[1];
            final int wire = (int) (tag[0] & 7);
            final int num = (int) (tag[0] >>> 3);
            if (wire == 2) {
                final long[] len = varint(b, i);
                i = (int) len[1];
                final int n = (int) len[0];
                if (num == number) {
                    return java.util.Arrays.copyOfRange(b, i, i + n);
                }
                i += n;
            } else if (wire == 0) {
                i = (int) varint(b, i)[1];
            } else {
                return null; // not in this schema
            }
        }
        return null;
    }

    private static long[] varint(byte[] b, int i) {
        long v = 0;
        int shift = 0;
        while (i < b.length) {
            final int x = b[i++] & 0xff;
            v |= (long) (x & 0x7f) << shift;
            if ((x & 0x80) == 0) {
                break;
            }
            shift += 7;
        }
        return new long[] {v, i};
    }
}
