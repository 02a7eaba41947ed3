package dev.postern.proxy.cli;

import dev.postern.config.status.ResourceStatus;

import java.util.List;
import java.util.Map;

/** Renders a computed status as compact text for {@code postern validate}. */
final class StatusText {
    private StatusText() {
    }

    static String of(ResourceStatus s) {
        final StringBuilder sb = new StringBuilder("status ").append(s.kind()).append(' ');
        if (!s.namespace().isEmpty()) {
            sb.append(s.namespace()).append('/');
        }
        sb.append(s.name()).append(':');
        conditions(sb, s.status().get("conditions"));
        if (s.status().get("listeners") instanceof List<?> ls) {
            for (Object o : ls) {
                final Map<?, ?> l = (Map<?, ?>) o;
                sb.append("\n  listener ").append(l.get("name")).append(" attachedRoutes=")
                        .append(l.get("attachedRoutes")).append(':');
                conditions(sb, l.get("conditions"));
            }
        }
        if (s.status().get("parents") instanceof List<?> ps) {
            for (Object o : ps) {
                final Map<?, ?> p = (Map<?, ?>) o;
                final Map<?, ?> ref = (Map<?, ?>) p.get("parentRef");
                sb.append("\n  parent ").append(ref.get("name"));
                if (ref.get("sectionName") != null) {
                    sb.append('/').append(ref.get("sectionName"));
                }
                sb.append(':');
                conditions(sb, p.get("conditions"));
            }
        }
        return sb.toString();
    }

    private static void conditions(StringBuilder sb, Object conds) {
        if (conds instanceof List<?> cs) {
            for (Object o : cs) {
                final Map<?, ?> c = (Map<?, ?>) o;
                sb.append(' ').append(c.get("type")).append('=').append(c.get("status")).append('(')
                        .append(c.get("reason")).append(')');
            }
        }
    }
}
