package org.qedkit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The image tools ({@code map}, {@code convert}, {@code resize}, {@code rebase},
 * {@code commit}, {@code measure}) against {@code qemu-img} on the same inputs: the same
 * output where the format is shared, the same exit codes, the same guest content
 * ({@code qemu-img compare}) where they change images.
 */
class ImageToolsSideBySideTest {
    @TempDir
    Path dir;

    /**
     * A chain of three: a sparse raw base shorter than the rest, a QED image over it with
     * data, a zero-written cluster and its own shorter size, and a QED overlay on top.
     */
    private Path chain() throws IOException {
        Path base = dir.resolve("base.raw");
        QemuTools.qemuImg("create", "-q", "-f", "raw", base, "2M").ok();
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 7 512k 64k", "-c", "write -P 6 1536k 4k", base).ok();
        Path mid = dir.resolve("mid.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-b", base, "-F", "raw", mid, "6M").ok();
        QemuTools.qemuIo("-c", "write -P 8 0 64k", "-c", "write -z 1M 64k", "-c", "write -P 5 3M 8k", mid).ok();
        Path top = dir.resolve("top.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-b", mid, "-F", "qed", top, "8M").ok();
        QemuTools.qemuIo("-c", "write -P 9 64k 64k", "-c", "write -z 512k 64k", "-c", "write -P 4 7M 1k", top).ok();
        return top;
    }

    @Test
    void mapPrintsQemuImgsRangesInBothFormatsThroughTheWholeChain() throws IOException {
        Path top = chain();
        for (Path image : List.of(top, dir.resolve("mid.qed"))) {
            for (List<String> options : List.of(List.of("--output=json"), List.of("--output=human"),
                    List.of("--output=json", "-s", "100k", "-l", "3M"), List.of("-l", "1M"))) {
                QemuTools.Result qemu = QemuTools.qemuImg(concat("map", options, image).toArray()).ok();
                QedRun qed = QedRun.of(concat("map", options, image).toArray());
                assertThat(qed.exitCode()).as("%s %s", options, qed.stderr()).isZero();
                assertThat(qed.stdout()).as("qed map %s %s", options, image).isEqualTo(qemu.stdout());
            }
        }
        QemuTools.Result qemu = QemuTools.qemuImg("map", dir.resolve("missing.qed"));
        assertThat(QedRun.of("map", dir.resolve("missing.qed")).exitCode()).isEqualTo(qemu.exitCode()).isEqualTo(1);
    }

    static List<Object> concat(String command, List<String> options, Object... rest) {
        List<Object> all = new java.util.ArrayList<>();
        all.add(command);
        all.addAll(options);
        all.addAll(List.of(rest));
        return all;
    }
}
