package org.qedkit.cli;

import org.qedkit.Extent;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A QED image stored in the guest data of another QED image (QEMU's "nested formats",
 * {@code driver=qed,file.driver=qed}). The engine maps files, not images, so the inner image
 * is opened from a private copy of the outer image's guest bytes, in a temporary file: the
 * outer image's allocated runs are copied, the rest stays a hole. A read-only open reads the
 * copy; a read-write open writes the copy back into the outer image when it is closed (the
 * inner image may not outgrow the outer one). The outer image stays open, and locked, the
 * whole time, so nobody changes it in between.
 */
final class Nested {
    private static final int CHUNK = 1 << 20;

    private Nested() {
    }

    /** How the inner image is opened once its bytes are in a file. */
    interface Opener {
        QedImage open(Path innerFile) throws IOException;
    }

    static IoTarget open(Path outerFile, boolean readOnly, Opener opener) throws IOException {
        QedImage outer = QedImage.open(outerFile, readOnly ? OpenOptions.READ_ONLY : OpenOptions.READ_WRITE);
        Path copy = null;
        try {
            copy = Files.createTempFile("qed-nested-", ".qed");
            copyOut(outer, copy);
            QedImage inner = opener.open(copy);
            return new Target(outer, inner, copy, readOnly);
        } catch (IOException | RuntimeException e) {
            outer.close();
            if (copy != null) {
                Files.deleteIfExists(copy);
            }
            throw e;
        }
    }

    private static void copyOut(QedImage outer, Path copy) throws IOException {
        byte[] buffer = new byte[CHUNK];
        try (FileChannel out = FileChannel.open(copy, StandardOpenOption.WRITE)) {
            for (long at = 0; at < outer.size(); ) {
                Extent e = outer.extentAt(at);
                long end = at + e.length();
                if (e.kind() == Extent.Kind.DATA || outer.header().hasBackingFile()) {
                    for (long p = at; p < end; ) {
                        int n = (int) Math.min(CHUNK, end - p);
                        outer.read(p, buffer, 0, n);
                        out.write(ByteBuffer.wrap(buffer, 0, n), p);
                        p += n;
                    }
                }
                at = end;
            }
            out.truncate(outer.size());
            if (out.size() < outer.size()) {
                out.write(ByteBuffer.wrap(new byte[1]), outer.size() - 1);
            }
        }
    }

    /** The inner image, with the write-back and clean-up at close. */
    private static final class Target implements IoTarget {
        private final QedImage outer;
        private final QedImage inner;
        private final IoTarget innerTarget;
        private final Path copy;
        private final boolean readOnly;

        Target(QedImage outer, QedImage inner, Path copy, boolean readOnly) {
            this.outer = outer;
            this.inner = inner;
            this.innerTarget = IoTarget.of(inner);
            this.copy = copy;
            this.readOnly = readOnly;
        }

        @Override
        public long size() {
            return innerTarget.size();
        }

        @Override
        public boolean isReadOnly() {
            return readOnly;
        }

        @Override
        public String formatName() {
            return innerTarget.formatName();
        }

        @Override
        public long clusterSize() {
            return innerTarget.clusterSize();
        }

        @Override
        public void read(long offset, byte[] dst) throws IOException {
            innerTarget.read(offset, dst);
        }

        @Override
        public void write(long offset, byte[] src, boolean fua) throws IOException {
            innerTarget.write(offset, src, fua);
        }

        @Override
        public void writeZeroes(long offset, long length) throws IOException {
            innerTarget.writeZeroes(offset, length);
        }

        @Override
        public void writeZeroesUnmapping(long offset, long length) throws IOException {
            innerTarget.writeZeroesUnmapping(offset, length);
        }

        @Override
        public void discard(long offset, long length) throws IOException {
            innerTarget.discard(offset, length);
        }

        @Override
        public void flush() throws IOException {
            innerTarget.flush();
        }

        @Override
        public Extent extentAt(long offset) throws IOException {
            return innerTarget.extentAt(offset);
        }

        @Override
        public void close() throws IOException {
            try {
                inner.close();
                if (!readOnly) {
                    writeBack();
                }
            } finally {
                try {
                    outer.close();
                } finally {
                    Files.deleteIfExists(copy);
                }
            }
        }

        private void writeBack() throws IOException {
            long length = Files.size(copy);
            if (length > outer.size()) {
                throw new IOException("the nested image grew to " + length + " bytes, past the " + outer.size()
                        + " bytes of the image that holds it: its changes are not written back");
            }
            byte[] buffer = new byte[CHUNK];
            try (FileChannel in = FileChannel.open(copy)) {
                for (long at = 0; at < length; ) {
                    int n = (int) Math.min(CHUNK, length - at);
                    ByteBuffer b = ByteBuffer.wrap(buffer, 0, n);
                    while (b.hasRemaining() && in.read(b, at + b.position()) >= 0) {
                        // read the whole piece
                    }
                    outer.write(at, buffer, 0, n);
                    at += n;
                }
            }
            outer.flush();
        }
    }
}
