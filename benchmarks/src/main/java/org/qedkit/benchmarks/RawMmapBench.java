package org.qedkit.benchmarks;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The raw-mmap baseline of {@code benchmarks/compare}: the same requests as
 * {@code qed bench} and {@code qemu-img bench} ({@code -c} requests of {@code -s} bytes,
 * {@code -S} apart from offset 0, wrapping at the end of the file), as copies into or out
 * of one shared mapping of a raw file, with no format at all. That is the ceiling for an
 * engine built on mappings. Reads and write-back writes run on one thread (a copy cannot
 * be "in flight"); write-through writes ({@code -t writethrough}) follow each copy with an
 * {@code fdatasync}, from {@code -d} threads at once, so that the kernel may share syncs
 * among them as it will. For writes, the ceiling gets every advantage the engine has and
 * more: the range the requests touch is reserved with {@code fallocate} before the clock
 * starts (the engine reserves 8 MiB steps as it goes, inside its timed run), and the mapping
 * is advised {@code MADV_RANDOM} (so no fault reads around its page, as the engine advises
 * the space it grows into). Prints {@code qemu-img bench}'s last line, "Run completed in N
 * seconds."
 *
 * <p>Usage: {@code RawMmapBench [-c N] [-d N] [-s BYTES] [-S BYTES] [-w] [-t writeback|writethrough] FILE}
 */
public final class RawMmapBench {
    private RawMmapBench() {
    }

    public static void main(String[] args) throws Throwable {
        System.out.printf(Locale.ROOT, "Run completed in %.3f seconds.%n", run(args));
    }

    /** Sends the requests {@code args} describe and returns the seconds they took. */
    static double run(String[] args) throws Throwable {
        long count = 75_000;
        int depth = 64;
        int size = 4096;
        long step = -1;
        boolean write = false;
        boolean writeThrough = false;
        Path file = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "-c" -> count = Long.parseLong(args[++i]);
                case "-d" -> depth = Integer.parseInt(args[++i]);
                case "-s" -> size = Integer.parseInt(args[++i]);
                case "-S" -> step = Long.parseLong(args[++i]);
                case "-w" -> write = true;
                case "-t" -> writeThrough = switch (args[++i]) {
                    case "writethrough", "directsync" -> true;
                    case "writeback", "none", "unsafe" -> false;
                    default -> throw new IllegalArgumentException("-t: writeback or writethrough, not " + args[i]);
                };
                default -> {
                    if (args[i].startsWith("-") || file != null) {
                        throw new IllegalArgumentException("unknown argument: " + args[i]);
                    }
                    file = Path.of(args[i]);
                }
            }
        }
        if (file == null) {
            throw new IllegalArgumentException("usage: RawMmapBench [-c N] [-d N] [-s BYTES] [-S BYTES] [-w] [-t MODE] FILE");
        }
        long stride = step < 0 ? size : step;
        long fileSize = Files.size(file);
        long span = Math.min(fileSize, count * Math.max(stride, size)); // what the requests touch
        int threads = write && writeThrough ? depth : 1;
        if (write) {
            Process p = new ProcessBuilder("fallocate", "-l", Long.toString(span), file.toString()).inheritIO().start();
            if (p.waitFor() != 0) {
                throw new IOException("fallocate -l " + span + " " + file + " failed");
            }
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
             Arena arena = Arena.ofShared()) {
            MemorySegment map = ch.map(FileChannel.MapMode.READ_WRITE, 0, span, arena);
            if (write) {
                RandomAdvice.adviseRandom(map);
            }
            long slots = Math.max(1, (span - size) / Math.max(stride, 1) + 1);
            AtomicLong next = new AtomicLong();
            long total = count;
            boolean writes = write;
            boolean sync = writeThrough;
            int bytes = size;
            Thread[] workers = new Thread[threads];
            long began = System.nanoTime();
            for (int t = 0; t < threads; t++) {
                workers[t] = Thread.ofPlatform().start(() -> {
                    MemorySegment buffer = Arena.ofAuto().allocate(bytes, 4096);
                    buffer.fill((byte) 0x5a);
                    try {
                        for (long i; (i = next.getAndIncrement()) < total; ) {
                            long off = (i % slots) * stride;
                            if (writes) {
                                MemorySegment.copy(buffer, 0, map, off, bytes);
                                if (sync) {
                                    ch.force(false);
                                }
                            } else {
                                MemorySegment.copy(map, off, buffer, 0, bytes);
                            }
                        }
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
            }
            for (Thread w : workers) {
                w.join();
            }
            return (System.nanoTime() - began) / 1e9;
        }
    }
}
