package dev.postern.proxy.http;

import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * Expected data-plane failures, as values: each has the status the client gets, Envoy's response flag for the
 * access log, the local reply body, and whether a retry may help. Mapped to a response in one place
 * ({@link LocalReplies}).
 */
public enum ProxyError {
    /** No route matched the host and path. */
    NO_ROUTE(HttpResponseStatus.NOT_FOUND, "NR", "", false),
    /** The matched rule's backend is invalid (or all weights are 0); the spec asks for a 500. */
    INVALID_BACKEND(HttpResponseStatus.INTERNAL_SERVER_ERROR, "-", "", false),
    /** The cluster has no ready endpoint. */
    NO_HEALTHY_UPSTREAM(HttpResponseStatus.SERVICE_UNAVAILABLE, "UH", "no healthy upstream", false),
    /** The cluster's circuit breaker is open (too many requests in flight). */
    UPSTREAM_OVERFLOW(HttpResponseStatus.SERVICE_UNAVAILABLE, "UO", "upstream connect error or disconnect/reset "
            + "before headers. reset reason: overflow", false),
    /** Connecting to the endpoint failed or timed out. */
    UPSTREAM_CONNECT_FAILURE(HttpResponseStatus.BAD_GATEWAY, "UF",
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure", true),
    /**
     * TLS to the backend failed (BackendTLSPolicy): the chain did not verify, the names did not match, the
     * handshake failed, or the policy has no usable CA. Flag {@code UTLS} (Postern's; Envoy reports UF and keeps
     * the TLS reason in a separate field).
     */
    UPSTREAM_TLS_FAILURE(HttpResponseStatus.BAD_GATEWAY, "UTLS",
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure, "
                    + "transport failure reason: TLS error", true),
    /** The upstream connection closed or reset before the response headers. */
    UPSTREAM_RESET(HttpResponseStatus.BAD_GATEWAY, "UC",
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
            true),
    /** The route's request or backendRequest timeout expired before the response started. */
    UPSTREAM_TIMEOUT(HttpResponseStatus.GATEWAY_TIMEOUT, "UT", "upstream request timeout", true),
    /** The upstream sent something that is not HTTP. */
    UPSTREAM_PROTOCOL_ERROR(HttpResponseStatus.BAD_GATEWAY, "UPE", "upstream protocol error", false),
    /** The Host belongs to another listener than the one the TLS SNI chose (HTTP/2 connection coalescing). */
    MISDIRECTED(HttpResponseStatus.MISDIRECTED_REQUEST, "-", "Misdirected Request", false),
    /** Memory is past an overload threshold: Envoy's overload manager answer. */
    OVERLOADED(HttpResponseStatus.SERVICE_UNAVAILABLE, "OM", "envoy overloaded", false),
    /** Nothing was read or written for the stream idle timeout before the response started. */
    STREAM_IDLE_TIMEOUT(HttpResponseStatus.REQUEST_TIMEOUT, "SI", "stream timeout", false),
    /** The request could not be parsed. */
    BAD_REQUEST(HttpResponseStatus.BAD_REQUEST, "DPE", "Bad Request", false),
    /** The request line or URI was too long. */
    URI_TOO_LONG(HttpResponseStatus.REQUEST_URI_TOO_LONG, "DPE", "URI Too Long", false),
    /** The request headers were too large. */
    HEADERS_TOO_LARGE(HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "DPE",
            "Request Header Fields Too Large", false);

    private final HttpResponseStatus status;
    private final String flag;
    private final String body;
    private final boolean retriable;

    ProxyError(HttpResponseStatus status, String flag, String body, boolean retriable) {
        this.status = status;
        this.flag = flag;
        this.body = body;
        this.retriable = retriable;
    }

    /** The status the client gets. */
    public HttpResponseStatus status() {
        return status;
    }

    /** Envoy's response flag ({@code -} for none). */
    public String flag() {
        return flag;
    }

    /** The local reply body. */
    public String body() {
        return body;
    }

    /** Whether another attempt (on another connection or endpoint) may succeed. */
    public boolean retriable() {
        return retriable;
    }
}
