package org.qedkit.cli;

import org.qedkit.QedImage;
import org.qedkit.QedIoException;
import org.qedkit.QemuImageName;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Where the tools write guest bytes: a QED image open read-write, or a raw file. What
 * {@code convert} and {@code commit} write into; closing makes everything durable.
 */
abstract class TargetImage implements AutoCloseable {
    private static final int ZERO_CHUNK = 1 << 20;

    /** Writes {@code length} bytes of {@code data}, from index {@code from}, at guest {@code offset}. */
    abstract void write(long offset, byte[] data, int from, int length) throws IOException;

    /** Makes {@code length} bytes at {@code offset} read as zeros. */
    abstract void writeZeroes(long offset, long length) throws IOException;

    @Override
    public abstract void close() throws IOException;

    /**
     * {@code target} with blkdebug's {@code inject-error} rules of its name honoured, as
     * QEMU's blkdebug filter does for the writes through it: a rule whose event is a write
     * ({@code write_aio}, {@code pwritev}, …) fails the writes that follow with its errno,
     * and so does a rule active from the start (event {@code none}) whose {@code iotype}
     * is {@code write} or {@code write-zeroes} (or none given), each for its kind of
     * request; only the first when {@code once}, only those touching its sector when it
     * names one. Rules for other events (reads, flushes, table updates) are not injected
     * here: the tools that copy into an image only write, and QEMU's finer events have no
     * place in a mapped engine. No rules: {@code target} itself.
     */
    static TargetImage injecting(TargetImage target, String name, List<QemuImageName.InjectedError> rules) {
        InjectedFailures writes = new InjectedFailures(rules, r -> r.event().startsWith("write")
                || r.event().startsWith("pwrite")
                || (r.event().equals("none") && (r.failsRequestsOf("write") || r.failsRequestsOf("write-zeroes"))));
        if (writes.isEmpty()) {
            return target;
        }
        return new TargetImage() {
            private void check(long offset, long length, String kind) throws IOException {
                QemuImageName.InjectedError rule = writes.failing(offset, length,
                        r -> !r.event().equals("none") || r.failsRequestsOf(kind));
                if (rule != null) {
                    throw QedIoException.of("write (blkdebug inject-error, event " + rule.event() + ")",
                            name, rule.errno());
                }
            }

            @Override
            void write(long offset, byte[] data, int from, int length) throws IOException {
                check(offset, length, "write");
                target.write(offset, data, from, length);
            }

            @Override
            void writeZeroes(long offset, long length) throws IOException {
                check(offset, length, "write-zeroes");
                target.writeZeroes(offset, length);
            }

            @Override
            public void close() throws IOException {
                target.close();
            }
        };
    }

    /** An open QED image; closing closes it (and so flushes it). */
    static TargetImage of(QedImage image) {
        return new TargetImage() {
            @Override
            void write(long offset, byte[] data, int from, int length) throws IOException {
                image.write(offset, data, from, length);
            }

            @Override
            void writeZeroes(long offset, long length) throws IOException {
                image.writeZeroes(offset, length);
            }

            @Override
            public void close() throws IOException {
                image.close();
            }
        };
    }

    /**
     * A raw file at least {@code size} bytes long (grown sparsely if shorter); with
     * {@code fresh}, emptied first, so that everything not written reads as zeros.
     */
    static TargetImage raw(Path file, long size, boolean fresh) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            if (fresh) {
                f.setLength(0);
            }
            if (f.length() < size) {
                f.setLength(size); // a hole: reads as zeros, takes no space
            }
        }
        FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE);
        return new TargetImage() {
            private final boolean zeroed = fresh;

            @Override
            void write(long offset, byte[] data, int from, int length) throws IOException {
                ByteBuffer b = ByteBuffer.wrap(data, from, length);
                while (b.hasRemaining()) {
                    ch.write(b, offset + b.position() - from);
                }
            }

            @Override
            void writeZeroes(long offset, long length) throws IOException {
                if (zeroed) {
                    return; // a fresh file reads as zeros already
                }
                byte[] zeros = new byte[(int) Math.min(length, ZERO_CHUNK)];
                for (long p = offset; p < offset + length; p += zeros.length) {
                    write(p, zeros, 0, (int) Math.min(zeros.length, offset + length - p));
                }
            }

            @Override
            public void close() throws IOException {
                try (ch) {
                    ch.force(false);
                }
            }
        };
    }
}
