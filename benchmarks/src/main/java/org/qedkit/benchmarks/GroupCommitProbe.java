package org.qedkit.benchmarks;

import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * A question asked outside the engine before building an answer into it (issue 16,
 * docs/performance.md §13, "Depth 8: is one sync at a time the limit?"): do several
 * {@code fdatasync}s in flight make durable writes faster than one syncing thread serving
 * every writer? Writer threads each store 4 KiB into their own page, 64 KiB apart, of a
 * mapped file reserved with {@code fallocate}, and wait until it is durable: in mode
 * {@code each} every writer syncs itself (as the raw-mmap baseline does); in mode
 * {@code group} it waits for one of {@code SYNCERS} threads that sync on behalf of all
 * (group commit). Prints writes per second.
 *
 * <p>Usage: {@code GroupCommitProbe each|group WRITERS WRITES_EACH [SYNCERS] FILE}.
 */
public final class GroupCommitProbe {
    private static final int SPACING = 64 * 1024;

    private final Object lock = new Object();
    private long issued;  // under lock
    private long durable; // under lock

    private GroupCommitProbe() {
    }

    public static void main(String[] args) throws Exception {
        boolean group = args[0].equals("group");
        int writers = Integer.parseInt(args[1]);
        int writesEach = Integer.parseInt(args[2]);
        int syncers = args.length > 4 ? Integer.parseInt(args[3]) : 1;
        Path file = Path.of(args[args.length - 1]);
        long size = (long) writers * writesEach * SPACING;
        Files.deleteIfExists(file);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            new ProcessBuilder("fallocate", "-l", Long.toString(size), file.toString()).inheritIO().start().waitFor();
            channel.force(true);
            MappedByteBuffer map = channel.map(FileChannel.MapMode.READ_WRITE, 0, size);
            GroupCommitProbe probe = new GroupCommitProbe();
            if (group) {
                for (int s = 0; s < syncers; s++) {
                    Thread.ofPlatform().daemon().start(() -> probe.syncForAll(channel));
                }
            }
            byte[] page = new byte[4096];
            Arrays.fill(page, (byte) 1);
            long start = System.nanoTime();
            Thread[] threads = new Thread[writers];
            for (int w = 0; w < writers; w++) {
                int id = w;
                threads[w] = Thread.ofPlatform().start(() -> {
                    try {
                        for (int k = 0; k < writesEach; k++) {
                            map.put((int) (((long) id * writesEach + k) * SPACING), page);
                            if (group) {
                                probe.awaitDurable();
                            } else {
                                channel.force(false);
                            }
                        }
                    } catch (IOException | InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                });
            }
            for (Thread t : threads) {
                t.join();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf("%s writers=%d syncers=%d: %.0f writes/s%n", args[0], writers, group ? syncers : writers,
                    writers * writesEach / seconds);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private void awaitDurable() throws InterruptedException {
        synchronized (lock) {
            long ticket = ++issued;
            lock.notifyAll();
            while (durable < ticket) {
                lock.wait();
            }
        }
    }

    private void syncForAll(FileChannel channel) {
        try {
            while (true) {
                long upTo;
                synchronized (lock) {
                    while (issued <= durable) {
                        lock.wait();
                    }
                    upTo = issued;
                }
                channel.force(false); // fdatasync: every store made before it is durable after it
                synchronized (lock) {
                    durable = Math.max(durable, upTo);
                    lock.notifyAll();
                }
            }
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }
}
