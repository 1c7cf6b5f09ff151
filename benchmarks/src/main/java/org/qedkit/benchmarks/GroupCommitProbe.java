package org.qedkit.benchmarks;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A question asked outside the engine before building an answer into it (issue 16,
 * docs/performance.md §13, "Depth 8: is one sync at a time the limit?"): do several
 * {@code fdatasync}s in flight make durable writes faster than one syncing thread serving
 * every writer? Writer threads store 4 KiB into pages 64 KiB apart of a mapped file reserved
 * with {@code fallocate} and advised {@code MADV_RANDOM}, taking the next free slot from one
 * shared counter, so the writes in flight lie side by side, as {@link RawMmapBench}'s and the
 * engine's do; then each waits until its write is durable: in mode {@code each} every writer
 * syncs itself (as the raw-mmap baseline does); in mode {@code group} it waits for one of
 * {@code SYNCERS} threads that sync on behalf of all (group commit). Prints writes per second.
 *
 * <p>The modes {@code each-table} and {@code group-table} also store an 8-byte entry per write
 * into one shared 64 KiB "table" at the start of the file (written and synced before the clock),
 * as a QED image's L2 entry for a new cluster: consecutive writes' entries share a page, so
 * every sync in flight writes that page back too. That is the least a format with tables adds
 * to the raw-mmap baseline, measured without the engine. Every mode lays the file out alike,
 * table first, so a mode with the table differs from its twin only by the entry stores.
 *
 * <p>Its first version (2026-11-28) gave each writer a region of its own, far from the
 * others', and no advice: its rates were several times lower than the baseline's with the same
 * writes in flight (about 2,000 writes/s on 2026-12-07, the day {@code RawMmapBench -d 8} made
 * 16,000 to 17,000), so its figures said little about the engine; the comparison between the
 * modes held (§13).
 *
 * <p>Usage: {@code GroupCommitProbe each|group|each-table|group-table WRITERS WRITES_EACH [SYNCERS] FILE}.
 */
public final class GroupCommitProbe {
    private static final int SPACING = 64 * 1024;
    private static final ValueLayout.OfLong ENTRY = ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Object lock = new Object();
    private long issued;  // under lock
    private long durable; // under lock

    private GroupCommitProbe() {
    }

    public static void main(String[] args) throws Exception {
        if (!args[0].matches("(each|group)(-table)?")) {
            throw new IllegalArgumentException("mode: each, group, each-table or group-table, not " + args[0]);
        }
        boolean group = args[0].startsWith("group");
        boolean table = args[0].endsWith("-table");
        int writers = Integer.parseInt(args[1]);
        int writesEach = Integer.parseInt(args[2]);
        int syncers = args.length > 4 ? Integer.parseInt(args[3]) : 1;
        Path file = Path.of(args[args.length - 1]);
        long writes = (long) writers * writesEach;
        long size = (writes + 1) * SPACING; // the first 64 KiB: the table
        Files.deleteIfExists(file);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
             Arena arena = Arena.ofShared()) {
            new ProcessBuilder("fallocate", "-l", Long.toString(size), file.toString()).inheritIO().start().waitFor();
            channel.force(true);
            MemorySegment map = channel.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            map.asSlice(0, SPACING).fill((byte) 0xff); // the table's pages are written before the clock
            channel.force(false);
            RandomAdvice.adviseRandom(map.asSlice(SPACING));
            GroupCommitProbe probe = new GroupCommitProbe();
            if (group) {
                for (int s = 0; s < syncers; s++) {
                    Thread.ofPlatform().daemon().start(() -> probe.syncForAll(channel));
                }
            }
            AtomicLong nextSlot = new AtomicLong();
            long start = System.nanoTime();
            Thread[] threads = new Thread[writers];
            for (int w = 0; w < writers; w++) {
                threads[w] = Thread.ofPlatform().start(() -> {
                    MemorySegment page = Arena.ofAuto().allocate(4096, 4096);
                    page.fill((byte) 1);
                    try {
                        for (long slot; (slot = nextSlot.getAndIncrement()) < writes; ) {
                            long at = (slot + 1) * SPACING;
                            MemorySegment.copy(page, 0, map, at, 4096);
                            if (table) {
                                map.set(ENTRY, slot * 8 % SPACING, at);
                            }
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
                    writes / seconds);
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
