package dev.postern.tproxy;

/** Prints why TPROXY is unavailable in this process ("available" when it is). Run by {@link UnprivilegedTest}. */
final class UnprivilegedProbe {
    private UnprivilegedProbe() {
    }

    public static void main(final String[] args) {
        System.out.println(TproxyDataplane.unavailableReason().orElse("available"));
        try {
            TproxyDataplane.start(TproxySettings.builder().noPinning().manageRouting(false).build()).close();
            System.out.println("start: ok");
        } catch (final TproxyException e) {
            System.out.println("start: " + e.getMessage());
        }
    }
}
