package dev.postern.config.gatewayapi;

import java.util.List;

/**
 * {@code filters[]}: the type and the one stanza that goes with it (others null).
 */
public record HTTPRouteFilter(String type, HeaderModifier requestHeaderModifier,
                              HeaderModifier responseHeaderModifier, RequestRedirect requestRedirect,
                              URLRewrite urlRewrite, RequestMirror requestMirror, ExtensionRef extensionRef,
                              CORS cors) {

    /** {@code cors}; lists empty when absent, maxAge null when absent. */
    public record CORS(List<String> allowOrigins, List<String> allowMethods, List<String> allowHeaders,
                       List<String> exposeHeaders, boolean allowCredentials, Integer maxAge) {
    }

    /** {@code requestHeaderModifier} / {@code responseHeaderModifier}. */
    public record HeaderModifier(List<Header> set, List<Header> add, List<String> remove) {
    }

    /** A header name and value. */
    public record Header(String name, String value) {
    }

    /** {@code requestRedirect}; absent fields are null. */
    public record RequestRedirect(String scheme, String hostname, PathModifier path, Integer port,
                                  Integer statusCode) {
    }

    /** {@code urlRewrite}; absent fields are null. */
    public record URLRewrite(String hostname, PathModifier path) {
    }

    /** A path modifier: ReplaceFullPath or ReplacePrefixMatch. */
    public record PathModifier(String type, String replaceFullPath, String replacePrefixMatch) {
    }

    /** {@code requestMirror}. */
    public record RequestMirror(HTTPBackendRef backendRef, Integer percent, Integer numerator, Integer denominator) {
    }

    /** {@code extensionRef}. */
    public record ExtensionRef(String group, String kind, String name) {
    }
}
