package org.qedkit.cli;

import org.qedkit.Durability;
import org.qedkit.Extent;
import org.qedkit.QedImage;
import org.qedkit.QedIoException;
import org.qedkit.QemuImageName;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.List;

/**
 * What {@code qed io} reads and writes: a QED image through the engine, or a raw file (qemu-io's
 * {@code -f raw}, and the {@code file} protocol drivers of {@code open -o driver=…}), which
 * QEMU's tests use for helper files. The commands see only this.
 */
interface IoTarget extends AutoCloseable {

    /** The guest size in bytes. */
    long size();

    /** True when opened read-only: qemu-io refuses its writing commands before they run. */
    boolean isReadOnly();

    /** qemu-io's {@code info}: format name and cluster size. */
    String formatName();

    /** The allocation unit {@code info} reports. */
    long clusterSize();

    void read(long offset, byte[] dst) throws IOException;

    /** Writes {@code src}; with {@code fua}, durable before it returns (qemu-io's {@code -f}). */
    void write(long offset, byte[] src, boolean fua) throws IOException;

    /** Makes the range read as zeros. */
    void writeZeroes(long offset, long length) throws IOException;

    /**
     * Zeros with unmap ({@code write -z -u}): whole clusters may stop being allocated. A raw
     * file is written with zeros.
     */
    default void writeZeroesUnmapping(long offset, long length) throws IOException {
        writeZeroes(offset, length);
    }

    /**
     * Discards {@code length} bytes at {@code offset}: a QED image frees the whole clusters
     * (partial ones stay as they are); a raw file keeps its bytes (a discard may).
     */
    default void discard(long offset, long length) throws IOException {
    }

    void flush() throws IOException;

    /**
     * From {@code offset}: whether this layer holds the data (qemu's "allocated": data or a
     * zero cluster here, not in a backing file), and for how many bytes that stays so.
     */
    Extent extentAt(long offset) throws IOException;

    @Override
    void close() throws IOException;

    /** A QED image opened by the engine. */
    static IoTarget of(QedImage image) {
        return new Qed(image);
    }

    /**
     * {@code target} behind a {@code blkdebug} filter above the format, with its
     * {@code inject-error} {@code rules} ({@code target} itself when none can fire): a rule
     * with {@code event: none} fails the guest reads, writes, zero writes and discards of its
     * {@code iotype} (blkdebug's default set without one) that touch its sector, as blkdebug
     * does; flushes are not failed (see {@link Injecting#flush}); a rule for any other event
     * never fires there, since the format driver signals its events to the layers below it,
     * not above.
     */
    static IoTarget injecting(IoTarget target, String name, List<QemuImageName.InjectedError> rules) {
        InjectedFailures failures = new InjectedFailures(rules, r -> r.event().equals("none"));
        return failures.isEmpty() ? target : new Injecting(target, name, failures);
    }

    /** The engine's image behind qemu-io's commands. */
    final class Qed implements IoTarget {
        private final QedImage image;

        Qed(QedImage image) {
            this.image = image;
        }

        QedImage image() {
            return image;
        }

        @Override
        public long size() {
            return image.size();
        }

        @Override
        public boolean isReadOnly() {
            return image.isReadOnly();
        }

        @Override
        public String formatName() {
            return "qed";
        }

        @Override
        public long clusterSize() {
            return image.header().clusterSize();
        }

        @Override
        public void read(long offset, byte[] dst) throws IOException {
            image.read(offset, dst);
        }

        @Override
        public void write(long offset, byte[] src, boolean fua) throws IOException {
            image.write(offset, MemorySegment.ofArray(src), fua ? Durability.WRITE_THROUGH : image.durability());
        }

        @Override
        public void writeZeroes(long offset, long length) throws IOException {
            image.writeZeroes(offset, length);
        }

        @Override
        public void writeZeroesUnmapping(long offset, long length) throws IOException {
            image.writeZeroes(offset, length, true);
        }

        @Override
        public void discard(long offset, long length) throws IOException {
            image.discard(offset, length);
        }

        @Override
        public void flush() throws IOException {
            image.flush();
        }

        @Override
        public Extent extentAt(long offset) throws IOException {
            return image.extentAt(offset);
        }

        @Override
        public void close() throws IOException {
            image.close();
        }
    }

    /** A target whose requests blkdebug's rules may fail first ({@link #injecting}). */
    final class Injecting implements IoTarget {
        private final IoTarget target;
        private final String name;
        private final InjectedFailures failures;

        private Injecting(IoTarget target, String name, InjectedFailures failures) {
            this.target = target;
            this.name = name;
            this.failures = failures;
        }

        /** Fails a request of blkdebug's I/O type {@code kind} over the range when a rule says so. */
        private void check(String kind, long offset, long length) throws IOException {
            QemuImageName.InjectedError rule = failures.failing(offset, length, r -> r.failsRequestsOf(kind));
            if (rule != null) {
                throw QedIoException.of(kind + " (blkdebug inject-error)", name, rule.errno());
            }
        }

        @Override
        public long size() {
            return target.size();
        }

        @Override
        public boolean isReadOnly() {
            return target.isReadOnly();
        }

        @Override
        public String formatName() {
            return target.formatName();
        }

        @Override
        public long clusterSize() {
            return target.clusterSize();
        }

        @Override
        public void read(long offset, byte[] dst) throws IOException {
            check("read", offset, dst.length);
            target.read(offset, dst);
        }

        @Override
        public void write(long offset, byte[] src, boolean fua) throws IOException {
            check("write", offset, src.length);
            target.write(offset, src, fua);
        }

        @Override
        public void writeZeroes(long offset, long length) throws IOException {
            check("write-zeroes", offset, length);
            target.writeZeroes(offset, length);
        }

        @Override
        public void writeZeroesUnmapping(long offset, long length) throws IOException {
            check("write-zeroes", offset, length);
            target.writeZeroesUnmapping(offset, length);
        }

        @Override
        public void discard(long offset, long length) throws IOException {
            check("discard", offset, length);
            target.discard(offset, length);
        }

        @Override
        public void flush() throws IOException {
            // Not failed here: QEMU sends a flush down to the filter only when something was
            // written through it since the last one, and its QED driver flushes on its own
            // schedule besides; qemu-io's own flush command met such a rule without an error
            // in every case tried side by side (docs/compatibility.md).
            target.flush();
        }

        @Override
        public Extent extentAt(long offset) throws IOException {
            return target.extentAt(offset);
        }

        @Override
        public void close() throws IOException {
            target.close();
        }
    }

    /**
     * A raw file: guest offset = file offset. Positional channel I/O; a request past the end
     * is refused as QEMU's block layer refuses it, and "allocated" is every byte (qemu's raw
     * driver reports the whole file as data in this layer).
     */
    final class Raw implements IoTarget {
        private final FileChannel channel;
        private final boolean readOnly;

        Raw(Path file, boolean readOnly) throws IOException {
            this.channel = readOnly ? FileChannel.open(file)
                    : FileChannel.open(file, java.nio.file.StandardOpenOption.READ,
                    java.nio.file.StandardOpenOption.WRITE);
            this.readOnly = readOnly;
        }

        @Override
        public long size() {
            try {
                return channel.size();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e); // the interpreter reports it as the command's failure
            }
        }

        @Override
        public boolean isReadOnly() {
            return readOnly;
        }

        @Override
        public String formatName() {
            return "raw";
        }

        @Override
        public long clusterSize() {
            return 0;
        }

        @Override
        public void read(long offset, byte[] dst) throws IOException {
            check(offset, dst.length);
            ByteBuffer buffer = ByteBuffer.wrap(dst);
            while (buffer.hasRemaining()) {
                if (channel.read(buffer, offset + buffer.position()) < 0) {
                    java.util.Arrays.fill(dst, buffer.position(), dst.length, (byte) 0);
                    return;
                }
            }
        }

        @Override
        public void write(long offset, byte[] src, boolean fua) throws IOException {
            writeBytes(offset, ByteBuffer.wrap(src));
            if (fua) {
                channel.force(false);
            }
        }

        @Override
        public void writeZeroes(long offset, long length) throws IOException {
            check(offset, length);
            ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(length, 1 << 20));
            for (long done = 0; done < length; ) {
                zeros.clear().limit((int) Math.min(zeros.capacity(), length - done));
                done += zeros.remaining();
                writeBytes(offset + done - zeros.remaining(), zeros);
            }
        }

        private void writeBytes(long offset, ByteBuffer src) throws IOException {
            if (readOnly) {
                throw new org.qedkit.QedReadOnlyException("write");
            }
            check(offset, src.remaining());
            long at = offset;
            while (src.hasRemaining()) {
                at += channel.write(src, at);
            }
        }

        private void check(long offset, long length) throws IOException {
            if (offset < 0 || length < 0 || offset > size() - length) {
                throw new org.qedkit.QedRangeException(offset, length, size());
            }
        }

        @Override
        public void flush() throws IOException {
            channel.force(false);
        }

        @Override
        public Extent extentAt(long offset) {
            return new Extent(offset, size() - offset, Extent.Kind.DATA, offset);
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
