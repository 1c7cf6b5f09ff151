package org.qedkit.cli;

import org.qedkit.QedFiles;
import org.qedkit.AccessPattern;
import org.qedkit.MapEntry;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;
import org.qedkit.QedIoException;
import org.qedkit.QemuImageName;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The guest bytes of an image the tools read, QED (with its backing chain) or raw, opened
 * read-only: what {@code compare} and {@code convert} take as input.
 */
abstract class SourceImage implements AutoCloseable {

    /** Guest size in bytes. */
    abstract long size();

    /** Reads {@code length} guest bytes at {@code offset} into the start of {@code dst}. */
    abstract void read(long offset, byte[] dst, int length) throws IOException;

    /** The run at {@code offset}: for QED through its chain; a raw file is one run of data at depth 0. */
    abstract MapEntry mapAt(long offset) throws IOException;

    /**
     * A block-status query, as QEMU's convert makes one: the run at {@code offset}, no longer
     * than {@code length} bytes. The query covers {@code [offset, offset + length)}: an error
     * injected anywhere in it fails it, whatever the run's own length.
     */
    MapEntry blockStatus(long offset, long length) throws IOException {
        MapEntry e = mapAt(offset);
        return e.length() <= length ? e
                : new MapEntry(e.start(), length, e.depth(), e.present(), e.zero(), e.data(), e.offset());
    }

    @Override
    public abstract void close() throws IOException;

    /**
     * Opens {@code file} as {@code format} (qed or raw; probed by QED's magic when null).
     * Errors say only what went wrong; callers name the file, as qemu-img does.
     */
    static SourceImage open(Path file, String format, boolean forceShare) throws IOException {
        if (!Files.exists(file)) {
            throw new IOException("No such file or directory");
        }
        String f = format != null ? format : (QedFiles.isQedImage(file) ? "qed" : "raw");
        return switch (f) {
            case "qed" -> {
                try {
                    // Read front to back: let the kernel read well ahead.
                    yield new Qed(QedImage.open(file, OpenOptions.READ_ONLY.withForceShare(forceShare)
                            .withAccessPattern(AccessPattern.SEQUENTIAL)));
                } catch (QedException e) {
                    throw new IOException(e.getMessage(), e);
                }
            }
            case "raw" -> new Raw(FileChannel.open(file));
            default -> throw new CliException("format '" + f + "' is not supported; use qed or raw");
        };
    }

    /**
     * {@code source} with blkdebug's {@code inject-error} rules of its name honoured, as
     * QEMU's blkdebug filter above the format does for the requests through it: the rules
     * active from the start (event {@code none}) fail the reads ({@code iotype} {@code read}
     * or none given) and the block-status queries ({@link #blockStatus}; {@code iotype}
     * {@code block-status}) that touch their sector, every time or only the first when
     * {@code once}. Rules armed by later events are QEMU's request-internal steps and are
     * not injected. No such rules: {@code source} itself.
     */
    static SourceImage injecting(SourceImage source, String name, List<QemuImageName.InjectedError> rules) {
        InjectedFailures reads = new InjectedFailures(rules,
                r -> r.event().equals("none") && r.failsRequestsOf("read"));
        InjectedFailures queries = new InjectedFailures(rules,
                r -> r.event().equals("none") && r.failsRequestsOf("block-status"));
        if (reads.isEmpty() && queries.isEmpty()) {
            return source;
        }
        return new SourceImage() {
            @Override
            long size() {
                return source.size();
            }

            @Override
            void read(long offset, byte[] dst, int length) throws IOException {
                failIfInjected(reads, offset, length, "read");
                source.read(offset, dst, length);
            }

            @Override
            MapEntry mapAt(long offset) throws IOException {
                return source.mapAt(offset);
            }

            @Override
            MapEntry blockStatus(long offset, long length) throws IOException {
                failIfInjected(queries, offset, length, "block status");
                return source.blockStatus(offset, length);
            }

            private void failIfInjected(InjectedFailures failures, long offset, long length, String request)
                    throws IOException {
                QemuImageName.InjectedError rule = failures.failing(offset, length, r -> true);
                if (rule != null) {
                    throw QedIoException.of(request + " (blkdebug inject-error)", name, rule.errno());
                }
            }

            @Override
            public void close() throws IOException {
                source.close();
            }
        };
    }

    private static final class Qed extends SourceImage {
        private final QedImage image;

        Qed(QedImage image) {
            this.image = image;
        }

        @Override
        long size() {
            return image.size();
        }

        @Override
        void read(long offset, byte[] dst, int length) throws IOException {
            image.read(offset, dst, 0, length);
        }

        @Override
        MapEntry mapAt(long offset) throws IOException {
            return image.mapEntryAt(offset);
        }

        @Override
        public void close() throws IOException {
            image.close();
        }
    }

    private static final class Raw extends SourceImage {
        private final FileChannel channel;
        private final long size;

        Raw(FileChannel channel) throws IOException {
            this.channel = channel;
            long s;
            try {
                s = channel.size();
            } catch (IOException e) {
                channel.close();
                throw e;
            }
            this.size = s;
        }

        @Override
        long size() {
            return size;
        }

        @Override
        void read(long offset, byte[] dst, int length) throws IOException {
            ByteBuffer buffer = ByteBuffer.wrap(dst, 0, length);
            while (buffer.hasRemaining()) {
                if (channel.read(buffer, offset + buffer.position()) < 0) {
                    Arrays.fill(dst, buffer.position(), length, (byte) 0);
                    break;
                }
            }
        }

        @Override
        MapEntry mapAt(long offset) {
            return new MapEntry(offset, size - offset, 0, true, false, true, offset);
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
