package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The largest layout QED allows: 64 MiB clusters, tables of 16 clusters (one L2 table is
 * 1 GiB, 2^27 entries), 7 EiB addressable. Walking it must cost what is allocated, not what
 * is addressable (issue 13, bug 6: a map after two small writes looked up 2^27 entries one
 * by one and took 25 to 70 s), in time and in the page cache it fills. The timeout is a guard against that walk coming back, with a
 * hundredfold margin over the second the walk takes now; the speed itself is not the
 * subject.
 */
class HugeLayoutTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aMapAndACheckOfAHugeSparseImageWalkOnlyWhatIsAllocated() throws Exception {
        Path p = dir.resolve("huge.qed");
        long size = 7L << 60;
        QedImage.create(p, CreateOptions.ofSize(size).withClusterSize(64 << 20).withTableSize(16));
        try (QedImage image = QedImage.open(p)) {
            image.write(0, new byte[4096]);
            image.write(1L << 40, new byte[4096]);
        }
        dropFromPageCache(p);
        List<Extent> extents = new ArrayList<>();
        try (QedImage image = QedImage.open(p, OpenOptions.READ_ONLY)) {
            for (long at = 0; at < size; ) {
                Extent e = image.extentAt(at);
                extents.add(e);
                at += e.length();
            }
        }
        assertThat(extents).extracting(Extent::kind).containsExactly(Extent.Kind.DATA, Extent.Kind.UNALLOCATED,
                Extent.Kind.DATA, Extent.Kind.UNALLOCATED);
        assertThat(extents.get(2).offset()).isEqualTo(1L << 40);
        // Nor may it read what it skips: before, the kernel's read-around made SEEK_DATA
        // call every page it had read "data", and the walk read both 1 GiB tables whole.
        assertThat(cachedBytesOf(p)).as("page cache the map left").isLessThan(32L << 20);
        assertThat(QedImage.check(p, CheckMode.REPORT).isClean()).isTrue();
        assertThat(cachedBytesOf(p)).as("page cache the check left").isLessThan(32L << 20);
    }

    /** Writes the file's dirty pages back and drops them from the page cache (posix_fadvise DONTNEED). */
    private static void dropFromPageCache(Path file) throws Exception {
        run("python3", "-c", "import os,sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); "
                + "os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)", file.toString());
        assertThat(cachedBytesOf(file)).as("page cache before the walk").isLessThan(1L << 20);
    }

    /** Bytes of {@code file} in the page cache, as util-linux's {@code fincore} counts them. */
    private static long cachedBytesOf(Path file) throws Exception {
        return Long.parseLong(run("fincore", "--bytes", "--noheadings", "--output", "RES", file.toString()));
    }

    private static String run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).strip();
        assertThat(p.waitFor()).as("%s: %s", command[0], out).isZero();
        return out;
    }
}
