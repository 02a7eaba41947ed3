package dev.postern.tproxy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs test-setup commands (ip, tc, mount) and fails with their output when they fail. */
final class Shell {
    private Shell() {
    }

    /** Runs {@code command}; returns stdout; throws with stderr when the exit code is not 0. */
    static String run(final String... command) {
        final Result result = tryRun(command);
        if (result.exit() != 0) {
            throw new IllegalStateException("'" + String.join(" ", command) + "' exited " + result.exit() + ": "
                    + result.stderr().strip() + " " + result.stdout().strip());
        }
        return result.stdout();
    }

    record Result(int exit, String stdout, String stderr) {
    }

    static Result tryRun(final String... command) {
        try {
            final Process process = new ProcessBuilder(List.of(command)).start();
            process.getOutputStream().close();
            final byte[] out = process.getInputStream().readAllBytes();
            final byte[] err = process.getErrorStream().readAllBytes();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return new Result(-1, "", "timed out");
            }
            return new Result(process.exitValue(), new String(out, StandardCharsets.UTF_8),
                    new String(err, StandardCharsets.UTF_8));
        } catch (final IOException e) {
            return new Result(-1, "", e.toString());
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(-1, "", "interrupted");
        }
    }

    /** Runs a command inside network namespace {@code ns} (ip netns exec remounts /sys; fine for ip/tc). */
    static String inNs(final String ns, final String... command) {
        final String[] full = new String[command.length + 4];
        full[0] = "ip";
        full[1] = "netns";
        full[2] = "exec";
        full[3] = ns;
        System.arraycopy(command, 0, full, 4, command.length);
        return run(full);
    }
}
