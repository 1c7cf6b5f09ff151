package org.qedkit.cli;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * QEMU's own regression tests, run with {@code qed} in place of qemu-img and qemu-io
 * ({@code tools/iotests --ci}: the subset that covers the main shapes). The full run of the
 * 44 is {@code tools/iotests}; docs/compatibility.md has the results.
 *
 * <p>The tests come from Debian's QEMU source ({@code tools/iotests fetch}, which
 * {@code .ci/run} does). Without them this test is skipped, with the reason, on a
 * developer's machine; under {@code CI=true} it fails, as every missing tool does here.
 */
class QemuIotestsIT {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @Test
    void qemusOwnTestsPassWithQedInPlaceOfQemuImgAndQemuIo() throws Exception {
        Path folder = Path.of(System.getProperty("java.io.tmpdir"), "qed-iotests-src", "tests-folder");
        boolean fetched = System.getenv("QED_IOTESTS_SRC") != null || Files.exists(folder);
        if (!fetched) {
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError("the qemu-iotests are not fetched: .ci/run runs 'tools/iotests fetch'");
            }
            Assumptions.abort("qemu-iotests not fetched (tools/iotests fetch); skipped outside CI");
        }
        Path log = Files.createTempFile("qed-iotests-", ".log");
        Process p = new ProcessBuilder(ROOT.resolve("tools/iotests").toString(), "--ci")
                .redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        if (!p.waitFor(15, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("tools/iotests --ci did not finish in 15 minutes: " + Files.readString(log));
        }
        String output = Files.readString(log);
        assertThat(p.exitValue()).as(output).isZero();
        assertThat(output).contains("passed 11 of 11");
    }
}
