package org.qedkit.testing;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the kernel's page cache holds of a file, as util-linux's {@code fincore} counts it,
 * and a way to empty it (python3's {@code posix_fadvise}): for tests of what a read or a walk
 * brings into memory.
 */
public final class PageCache {
    private PageCache() {
    }

    /** Pages of {@code file} in the page cache. */
    public static long residentPages(Path file) throws Exception {
        return Long.parseLong(run("fincore", "--bytes", "--noheadings", "--output", "PAGES", file.toString()));
    }

    /** Bytes of {@code file} in the page cache. */
    public static long residentBytes(Path file) throws Exception {
        return Long.parseLong(run("fincore", "--bytes", "--noheadings", "--output", "RES", file.toString()));
    }

    /**
     * True when every page of {@code [offset, offset + length)} of {@code file} is in the page
     * cache ({@code mincore} through {@link java.nio.MappedByteBuffer#isLoaded()}; mapping the
     * range reads nothing in).
     */
    public static boolean resident(Path file, long offset, long length) throws Exception {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return channel.map(FileChannel.MapMode.READ_ONLY, offset, length).isLoaded();
        }
    }

    /**
     * The clusters of {@code file} (of {@code clusterSize} bytes) whose 4 KiB block at
     * {@code inCluster} is in the page cache and holds zeros, while the bytes before it in
     * the cluster are not in the cache: blocks written ahead of the writers into otherwise
     * untouched space (ClusterAllocator, "First blocks written ahead"). A test that writes
     * its data at {@code inCluster} with other bytes than zeros, and whose tables start at a
     * cluster's first block, counts only those.
     */
    public static long zeroBlocksAloneInCache(Path file, long clusterSize, long inCluster) throws Exception {
        long alone = 0;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            for (long cluster = 0; cluster + clusterSize <= channel.size(); cluster += clusterSize) {
                if (resident(file, cluster + inCluster, 4096) && !resident(file, cluster, inCluster)) {
                    ByteBuffer block = ByteBuffer.allocate(4096);
                    channel.read(block, cluster + inCluster);
                    if (block.flip().equals(ByteBuffer.allocate(4096))) {
                        alone++;
                    }
                }
            }
        }
        return alone;
    }

    /** Writes the file's dirty pages back and drops them from the page cache ({@code POSIX_FADV_DONTNEED}). */
    public static void drop(Path file) throws Exception {
        run("python3", "-c", "import os,sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); "
                + "os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)", file.toString());
    }

    private static String run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).strip();
        assertThat(p.waitFor()).as("%s: %s", command[0], out).isZero();
        return out;
    }
}
