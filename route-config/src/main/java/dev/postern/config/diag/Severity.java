package dev.postern.config.diag;

/** How bad a diagnostic is. An {@link #ERROR} stops a config from being published; a warning does not. */
public enum Severity {
    /** The config cannot be published as it stands (structural error). */
    ERROR,
    /** Something was skipped or degraded; the rest of the config is served. */
    WARNING
}
