package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.Bytes;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The access pattern reaches the kernel: the image's mappings (and its raw backing
 * file's) carry the readahead flag {@code /proc/self/smaps} shows for the advice ("rr"
 * for random, "sr" for sequential), and reads return the same bytes whatever the hint.
 */
class AccessPatternTest {
    @TempDir
    Path dir;

    @Test
    void theHintIsOnEveryMappingOfTheChainAndChangesNoByte() throws IOException {
        Path base = Files.write(dir.resolve("hint-base.raw"), Bytes.random(5, 1 << 20));
        Path image = dir.resolve("hint.qed");
        QedImage.create(image, CreateOptions.ofSize(2 << 20).withBackingFile("hint-base.raw", "raw"));
        try (QedImage img = QedImage.open(image)) {
            img.write(4096, Bytes.random(6, 8192));
        }
        byte[] expected = null;
        for (AccessPattern pattern : AccessPattern.values()) {
            try (QedImage img = QedImage.open(image, OpenOptions.READ_ONLY.withAccessPattern(pattern))) {
                byte[] all = new byte[(int) img.size()];
                img.read(0, all);
                if (expected == null) {
                    expected = all;
                }
                assertThat(all).as("bytes read with %s", pattern).isEqualTo(expected);
                String flag = switch (pattern) {
                    case NORMAL -> null;
                    case RANDOM -> "rr";
                    case SEQUENTIAL -> "sr";
                };
                for (Path file : List.of(image, base)) {
                    List<String> flags = vmFlagsOf(file);
                    assertThat(flags).as("mappings of %s", file).isNotEmpty();
                    for (String f : flags) {
                        if (flag == null) {
                            assertThat(f).as("%s with %s", file, pattern).doesNotContain(" rr").doesNotContain(" sr");
                        } else {
                            assertThat(f).as("%s with %s", file, pattern).contains(" " + flag);
                        }
                    }
                }
            }
        }
    }

    /** The VmFlags line of every mapping of {@code file} in this process. */
    private static List<String> vmFlagsOf(Path file) throws IOException {
        String real = file.toRealPath().toString();
        List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        List<String> flags = new java.util.ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).endsWith(" " + real)) {
                for (int j = i + 1; j < lines.size() && !lines.get(j).endsWith(real); j++) {
                    if (lines.get(j).startsWith("VmFlags:")) {
                        flags.add(lines.get(j) + " ");
                        break;
                    }
                }
            }
        }
        return flags;
    }
}
