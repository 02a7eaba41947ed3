package dev.postern.proxy.observe;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

import org.slf4j.LoggerFactory;

/**
 * Runtime log levels, as Envoy's {@code /logging} admin endpoint changes them: all loggers at once, or one
 * logger (and the loggers under it) by name. Backed by Logback, Postern's one SLF4J backend.
 */
public final class LogLevels {
    /** The levels accepted, Envoy's names first ({@code warning} and {@code critical} map to WARN and ERROR). */
    private static final Map<String, Level> LEVELS = Map.of("trace", Level.TRACE, "debug", Level.DEBUG,
            "info", Level.INFO, "warning", Level.WARN, "warn", Level.WARN, "error", Level.ERROR,
            "critical", Level.ERROR, "off", Level.OFF);

    private LogLevels() {
    }

    private static LoggerContext context() {
        if (LoggerFactory.getILoggerFactory() instanceof LoggerContext c) {
            return c;
        }
        throw new IllegalStateException("the SLF4J backend is not Logback; log levels cannot be changed");
    }

    /** Parses a level name; throws IllegalArgumentException naming the accepted ones. */
    public static Level parse(String name) {
        final Level l = LEVELS.get(name.toLowerCase(Locale.ROOT));
        if (l == null) {
            throw new IllegalArgumentException("unknown log level \"" + name
                    + "\"; use one of trace, debug, info, warning, error, critical, off");
        }
        return l;
    }

    /** Sets every logger that has a level of its own, and the root, to {@code level}. */
    public static void setAll(Level level) {
        for (Logger l : context().getLoggerList()) {
            if (l.getLevel() != null || Logger.ROOT_LOGGER_NAME.equals(l.getName())) {
                l.setLevel(level);
            }
        }
    }

    /** Sets one logger by name ({@code root} for the root logger). */
    public static void set(String name, Level level) {
        context().getLogger("root".equals(name) ? Logger.ROOT_LOGGER_NAME : name).setLevel(level);
    }

    /**
     * Switches the log output to one JSON object per line (Logback's JsonEncoder: timestamp, level, logger,
     * thread, formatted message, throwable), configured by {@code logback-json.xml}.
     */
    public static void useJson() {
        final LoggerContext ctx = context();
        final java.net.URL config = LogLevels.class.getResource("/logback-json.xml");
        try {
            ctx.reset();
            final ch.qos.logback.classic.joran.JoranConfigurator c = new ch.qos.logback.classic.joran.JoranConfigurator();
            c.setContext(ctx);
            c.doConfigure(config);
        } catch (ch.qos.logback.core.joran.spi.JoranException e) {
            throw new IllegalStateException("cannot configure JSON logging: " + e.getMessage(), e);
        }
    }

    /** The loggers that have a level of their own, by name, with their level in lower case. */
    public static Map<String, String> configured() {
        final Map<String, String> out = new LinkedHashMap<>();
        for (Logger l : context().getLoggerList()) {
            if (l.getLevel() != null) {
                out.put(l.getName(), l.getLevel().toString().toLowerCase(Locale.ROOT));
            }
        }
        return out;
    }
}
