package dev.postern.config.translate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.re2j.Pattern;

import java.util.Random;

import org.junit.jupiter.api.Test;

/** The hand-written hostname check agrees with the Gateway API CRD's pattern. */
class HostnameValidationTest {
    private static final Pattern CRD = Pattern.compile(
            "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");

    @Test
    void examples() {
        assertTrue(GatewayTranslator.validHostname("example.com"));
        assertTrue(GatewayTranslator.validHostname("*.example.com"));
        assertTrue(GatewayTranslator.validHostname("a"));
        assertTrue(GatewayTranslator.validHostname("a-b.c1"));
        assertFalse(GatewayTranslator.validHostname(""));
        assertFalse(GatewayTranslator.validHostname("*"));
        assertFalse(GatewayTranslator.validHostname("*."));
        assertFalse(GatewayTranslator.validHostname("a.*.com"));
        assertFalse(GatewayTranslator.validHostname("-a.com"));
        assertFalse(GatewayTranslator.validHostname("a-.com"));
        assertFalse(GatewayTranslator.validHostname("a..com"));
        assertFalse(GatewayTranslator.validHostname("a.com."));
        assertFalse(GatewayTranslator.validHostname("Example.com"));
        assertFalse(GatewayTranslator.validHostname("a_b.com"));
        assertFalse(GatewayTranslator.validHostname("a".repeat(254)));
    }

    @Test
    void agreesWithTheCrdPatternOnRandomStrings() {
        final Random rnd = new Random(7);
        final String alphabet = "ab9-.*A_";
        for (int n = 0; n < 200_000; n++) {
            final int len = rnd.nextInt(12);
            final StringBuilder sb = new StringBuilder();
            for (int i = 0; i < len; i++) {
                sb.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
            }
            final String s = sb.toString();
            assertEquals(CRD.matches(s), GatewayTranslator.validHostname(s), s);
        }
    }
}
