package org.qedkit.cli;

import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.nio.file.Path;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * {@code qed bench}: {@code qemu-img bench}'s options and output, so the two run side by
 * side on the same image. Requests go out sequentially from {@code -o}, {@code -S} apart,
 * wrapping at the end of the image; {@code -d} are kept in flight from one thread through
 * the asynchronous API ({@link QedImage#writeAsync}), which is what lets durable writes
 * share their syncs. At depth 1 each write waits for itself, so it goes through the
 * synchronous API ({@link QedImage#write(long, MemorySegment, Durability)}), as a depth-1
 * caller of the engine would: the waiting thread then makes its own sync, where a future's
 * sync is the commit thread's (a hand-off there and back). Reads are copies from the mapping
 * and complete at once. The time is that of the requests (and the flushes
 * {@code --flush-interval} asks for), as qemu-img times it; the image is closed (and so
 * flushed) after the clock stops, as in qemu-img.
 *
 * <p>{@code -t} maps QEMU's cache modes to durability: writethrough and directsync are
 * write-through, writeback, none and unsafe write-back. {@code -i} and {@code -n} are
 * accepted for compatibility: the engine always works through its mappings.
 */
final class BenchCommand implements Callable<Integer>, DeclaredCommand {

    final SharedOptions.ImageFile image = new SharedOptions.ImageFile();
    final SharedOptions.ForceShare forceShare = new SharedOptions.ForceShare();
    final SharedOptions.Quiet quiet = new SharedOptions.Quiet();
    long count;
    int depth;
    Long flushInterval;
    String aio;
    boolean nocache;
    boolean noDrain;
    String offset;
    String pattern;
    String bufferSize;
    String stepSize;
    String cache;
    boolean write;
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("bench", this, "Run a simple I/O benchmark on an image, as "
                + "qemu-img bench does.");
        image.declare(b);
        forceShare.declare(b);
        quiet.declare(b);
        b.option("-c").label("COUNT").defaultValue("75000")
                .describe("Requests to send (75000).")
                .typed(long.class, () -> count, v -> count = v);
        b.option("-d").label("DEPTH").defaultValue("64")
                .describe("Requests in flight (64).")
                .typed(int.class, () -> depth, v -> depth = v);
        b.option("--flush-interval").label("N")
                .describe("Flush after every N requests (at least the depth).")
                .typed(Long.class, () -> flushInterval, v -> flushInterval = v);
        b.option("-i").label("AIO")
                .describe("Accepted for qemu-img compatibility (native, threads, io_uring); checked, then ignored.")
                .text(() -> aio, v -> aio = v);
        b.option("-n")
                .describe("Accepted for qemu-img compatibility (cache=none); ignored.")
                .flag(() -> nocache, v -> nocache = v);
        b.option("--no-drain")
                .describe("Accepted for qemu-img compatibility; ignored.")
                .flag(() -> noDrain, v -> noDrain = v);
        b.option("-o").label("OFFSET").defaultValue("0")
                .describe("First offset.")
                .text(() -> offset, v -> offset = v);
        b.option("--pattern").label("PATTERN").defaultValue("0")
                .describe("Byte value written (decimal, 0x hex or 0 octal).")
                .text(() -> pattern, v -> pattern = v);
        b.option("-s").label("BUFFER_SIZE").defaultValue("4096")
                .describe("Bytes per request (4096).")
                .text(() -> bufferSize, v -> bufferSize = v);
        b.option("-S").label("STEP_SIZE")
                .describe("Bytes between requests (default: the buffer size).")
                .text(() -> stepSize, v -> stepSize = v);
        b.option("-t").label("CACHE").defaultValue("writeback")
                .describe("writeback (default), writethrough, directsync, none, unsafe.")
                .text(() -> cache, v -> cache = v);
        b.option("-w")
                .describe("Write instead of read.")
                .flag(() -> write, v -> write = v);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException {
        Path file = image.qed("bench");
        long size = parse("buffer size", bufferSize);
        long step = stepSize == null ? size : parse("step size", stepSize);
        if (step == 0) {
            step = size; // qemu-img bench: a step of 0 means the buffer size
        }
        long start = parse("offset", offset);
        int patternByte = patternByte(pattern);
        if (aio != null && !aio.equals("threads") && !aio.equals("native") && !aio.equals("io_uring")) {
            throw new CliException("Invalid aio option: " + aio);
        }
        if (count < 0 || depth < 1 || size < 0 || size > Integer.MAX_VALUE || step < 0) {
            throw new CliException("Invalid request count, depth, buffer size or step size");
        }
        if (flushInterval != null && flushInterval < depth) {
            throw new CliException("Flush interval can't be smaller than depth");
        }
        if (flushInterval != null && !write) {
            throw new CliException("--flush-interval is only available in write tests");
        }
        Durability durability = switch (cache) {
            case "writethrough", "directsync" -> Durability.WRITE_THROUGH;
            case "writeback", "none", "unsafe" -> Durability.WRITE_BACK;
            default -> throw new CliException("Invalid cache mode '" + cache + "'");
        };
        OpenOptions options = write ? OpenOptions.READ_WRITE.withDurability(durability)
                : OpenOptions.READ_ONLY.withForceShare(forceShare.on);
        PrintWriter out = spec.commandLine().getOut();
        try (QedImage image = QedImage.open(file, options); Arena arena = Arena.ofConfined()) {
            if (start + size > image.size()) {
                throw new CliException("Offset and buffer size exceed the image size");
            }
            if (!quiet.on) {
                out.printf(Locale.ROOT, "Sending %d %s requests, %d bytes each, %d in parallel (starting at offset %d, step size %d)%n",
                        count, write ? "write" : "read", size, depth, start, step);
                if (flushInterval != null) {
                    out.printf(Locale.ROOT, "Sending flush every %d requests%n", flushInterval);
                }
                out.flush();
            }
            MemorySegment buffer = arena.allocate(size, 4096);
            buffer.fill((byte) patternByte);
            long began = System.nanoTime();
            run(image, buffer, start, step, durability);
            double seconds = (System.nanoTime() - began) / 1e9;
            if (!quiet.on) {
                out.printf(Locale.ROOT, "Run completed in %.3f seconds.%n", seconds);
                out.flush();
            }
        } catch (QedException e) {
            throw CliException.couldNotOpen(file, e);
        }
        return 0;
    }

    /** The byte {@code --pattern} names, read as qemu-img reads it (strtoul, base 0): decimal, 0x hex, 0 octal. */
    static int patternByte(String text) {
        long value;
        try {
            value = Long.decode(text.strip());
        } catch (NumberFormatException e) {
            value = -1;
        }
        if (value < 0 || value > 0xff || text.strip().startsWith("#")) {
            throw new CliException("Invalid pattern byte specified");
        }
        return (int) value;
    }

    private void run(QedImage image, MemorySegment buffer, long start, long step, Durability durability)
            throws IOException {
        long size = buffer.byteSize();
        long pos = start;
        ArrayDeque<CompletableFuture<Void>> inFlight = new ArrayDeque<>(depth);
        for (long i = 0; i < count; i++) {
            if (write && depth == 1) {
                image.write(pos, buffer, durability);
                if (flushInterval != null && (i + 1) % flushInterval == 0) {
                    image.flush();
                }
            } else if (write) {
                if (inFlight.size() == depth) {
                    await(inFlight.poll());
                }
                inFlight.add(image.writeAsync(pos, buffer, durability));
                if (flushInterval != null && (i + 1) % flushInterval == 0) {
                    while (!inFlight.isEmpty()) {
                        await(inFlight.poll()); // qemu-img drains, then flushes
                    }
                    await(image.flushAsync());
                }
            } else {
                image.read(pos, buffer);
            }
            pos += step;
            if (pos + size > image.size()) {
                pos = start; // wrap around, as qemu-img does
            }
        }
        while (!inFlight.isEmpty()) {
            await(inFlight.poll());
        }
    }

    private static void await(CompletableFuture<Void> f) throws IOException {
        try {
            f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw e;
        }
    }

    private static long parse(String what, String text) {
        try {
            return Sizes.parse(text);
        } catch (IllegalArgumentException e) {
            throw new CliException("Invalid " + what + " specified: " + text);
        }
    }
}
