package org.qedkit.stress;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Runs {@code qemu-img check} on an image: corruptions are violations, leaks are counted. */
final class QemuCheck {
    private static final Pattern LEAKS = Pattern.compile("\"leaks\": (\\d+)");
    private static final Pattern CORRUPTIONS = Pattern.compile("\"corruptions\": (\\d+)");

    private QemuCheck() {
    }

    /** Returns the leaked clusters; adds a violation for a corruption or a failed check. */
    static long run(Path image, List<String> violations) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder("qemu-img", "check", "--output=json", image.toString()).start();
        } catch (IOException e) {
            violations.add("qemu-img is needed to check the image (apt-get install -y qemu-utils): " + e.getMessage());
            return 0;
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            violations.add("qemu-img check did not finish");
            return 0;
        }
        int code = p.exitValue();
        Matcher corruptions = CORRUPTIONS.matcher(out);
        if (corruptions.find() && Long.parseLong(corruptions.group(1)) > 0 || (code != 0 && code != 3)) {
            violations.add("qemu-img check exit " + code + ": " + out.strip() + " " + err.strip());
        }
        Matcher leaks = LEAKS.matcher(out);
        return leaks.find() ? Long.parseLong(leaks.group(1)) : 0;
    }
}
