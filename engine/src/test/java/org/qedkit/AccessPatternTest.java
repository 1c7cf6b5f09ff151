package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.Bytes;
import org.qedkit.testing.PageCache;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The access pattern reaches the kernel: the image's mappings (and its raw backing
 * file's) carry the readahead flag {@code /proc/self/smaps} shows for the advice ("rr"
 * for random, "sr" for sequential), and reads return the same bytes whatever the hint.
 * Space a writable image grows into is always advised random: a fault there has nothing
 * to read around.
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

    @Test
    void spaceAWritableImageGrowsIntoIsAdvisedRandomAndTheRestAsAsked() throws IOException {
        Path image = dir.resolve("grow.qed");
        QedImage.create(image, CreateOptions.ofSize(1L << 30));
        long openedLength = Files.size(image);
        try (QedImage img = QedImage.open(image, OpenOptions.READ_WRITE.withAccessPattern(AccessPattern.SEQUENTIAL))) {
            img.write(0, Bytes.random(7, 4096));
            long firstFresh = (openedLength + 65535) & -65536L;
            List<Vma> vmas = vmasOf(image);
            assertThat(vmas).extracting(Vma::fileOffset).contains(0L, firstFresh);
            for (Vma vma : vmas) {
                if (vma.fileOffset() < firstFresh) {
                    assertThat(vma.flags()).as("before the opened length, as asked").contains(" sr").doesNotContain(" rr");
                } else {
                    assertThat(vma.flags()).as("space grown into").contains(" rr").doesNotContain(" sr");
                }
            }
        }
    }

    /**
     * The cost this avoids: without the advice, each first store into a new cluster made the
     * kernel read 128 KiB around it into the page cache, zeros of clusters nobody wrote.
     * 200 writes of 4 KiB, each into a new 64 KiB cluster of a fresh image, leave about one
     * page each in the cache (plus the tables), not thirty-two.
     */
    @Test
    void writesIntoNewClustersBringOnlyTheirOwnPagesIntoThePageCache() throws Exception {
        Path image = dir.resolve("fresh.qed");
        QedImage.create(image, CreateOptions.ofSize(1L << 40));
        int writes = 200;
        try (QedImage img = QedImage.open(image)) {
            byte[] page = Bytes.random(8, 4096);
            for (int i = 0; i < writes; i++) {
                img.write((long) i << 16, page);
            }
            long cachedPages = PageCache.residentPages(image);
            // Header and L1 table: 5 clusters of 64 KiB at most, i.e. 80 pages; one L2 table, 64.
            assertThat(cachedPages).as("pages of %s in the page cache", image).isBetween((long) writes, writes + 80L + 64L);
        }
    }

    private record Vma(long fileOffset, String flags) {
    }

    /** The VmFlags line of every mapping of {@code file} in this process. */
    private static List<String> vmFlagsOf(Path file) throws IOException {
        return vmasOf(file).stream().map(Vma::flags).toList();
    }

    /** Every mapping of {@code file} in this process: its offset in the file and its VmFlags line. */
    private static List<Vma> vmasOf(Path file) throws IOException {
        String real = file.toRealPath().toString();
        List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        List<Vma> vmas = new java.util.ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).endsWith(" " + real)) {
                long offset = Long.parseLong(lines.get(i).split("\\s+")[2], 16);
                for (int j = i + 1; j < lines.size() && !lines.get(j).endsWith(real); j++) {
                    if (lines.get(j).startsWith("VmFlags:")) {
                        vmas.add(new Vma(offset, lines.get(j) + " "));
                        break;
                    }
                }
            }
        }
        return vmas;
    }
}
