package org.qedkit.nbd;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The read-ahead of a connection's requests: bytes come out in the order the client sent
 * them, whatever the sizes of the reads on either side; a burst costs one read of the
 * socket; the replies held back are sent before every read that may wait.
 */
class RequestInputTest {

    /** A client's bytes, delivered in the given pieces, one piece per read at most; counts reads. */
    private static final class Client implements ReadableByteChannel {
        private final List<byte[]> pieces;
        private int next;
        private int offset;
        int reads;

        Client(List<byte[]> pieces) {
            this.pieces = pieces;
        }

        @Override
        public int read(ByteBuffer dst) {
            reads++;
            if (next == pieces.size()) {
                return -1;
            }
            byte[] piece = pieces.get(next);
            int n = Math.min(dst.remaining(), piece.length - offset);
            dst.put(piece, offset, n);
            offset += n;
            if (offset == piece.length) {
                next++;
                offset = 0;
            }
            return n;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    private static byte[] counting(int from, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (from + i);
        }
        return b;
    }

    private static byte[] readFully(RequestInput input, int length) throws IOException {
        ByteBuffer dst = ByteBuffer.allocate(length);
        while (dst.hasRemaining()) {
            assertThat(input.read(dst)).as("no end of stream inside %d bytes", length).isPositive();
        }
        return dst.array();
    }

    @Test
    void bytesComeOutInOrderWhateverTheSizesOfTheReads() throws IOException {
        byte[] sent = counting(0, 100_000);
        List<byte[]> pieces = new ArrayList<>();
        for (int at = 0, size = 1; at < sent.length; at += size, size = size * 3 % 70_001 + 1) {
            pieces.add(java.util.Arrays.copyOfRange(sent, at, Math.min(sent.length, at + size)));
        }
        RequestInput input = new RequestInput(new Client(pieces), 4096);
        ByteBuffer got = ByteBuffer.allocate(sent.length);
        int[] sizes = {28, 4096, 1, 28, 9000, 512, 28, 65536};
        for (int i = 0; got.hasRemaining(); i++) {
            int want = Math.min(sizes[i % sizes.length], got.remaining());
            got.put(readFully(input, want));
        }
        assertThat(got.array()).isEqualTo(sent);
        assertThat(input.read(ByteBuffer.allocate(1))).as("then the end of the stream").isEqualTo(-1);
    }

    @Test
    void aBurstOfRequestsCostsOneReadOfTheClientAfterTheFirst() throws IOException {
        byte[] first = counting(0, 28);
        byte[] burst = counting(28, 16 * (28 + 4096)); // sixteen 4 KiB writes, back to back
        Client client = new Client(List.of(first, burst));
        RequestInput input = new RequestInput(client, 128 << 10);
        readFully(input, 28);
        assertThat(client.reads).isEqualTo(1);
        for (int i = 0; i < 16; i++) {
            readFully(input, 28);
            readFully(input, 4096);
        }
        assertThat(client.reads).as("the sixteen requests came in one read").isEqualTo(2);
        assertThat(input.buffered()).isZero();
    }

    @Test
    void aLargeReadWithNothingBufferedGoesStraightToTheCaller() throws IOException {
        Client client = new Client(List.of(counting(0, 10), counting(10, 1 << 20)));
        RequestInput input = new RequestInput(client, 4096);
        readFully(input, 10);
        ByteBuffer large = ByteBuffer.allocate(1 << 20);
        assertThat(input.read(large)).isEqualTo(1 << 20);
        assertThat(input.buffered()).as("nothing went through the buffer").isZero();
        assertThat(large.array()).isEqualTo(counting(10, 1 << 20));
    }

    @Test
    void heldRepliesAreSentBeforeEveryReadThatMayWaitAndNotBeforeBufferedOnes() throws IOException {
        Client client = new Client(List.of(counting(0, 28), counting(28, 3 * 28)));
        RequestInput input = new RequestInput(client, 4096);
        int[] sends = {0};
        input.beforeWaiting(() -> sends[0]++);
        readFully(input, 28);
        assertThat(sends[0]).isEqualTo(1);
        readFully(input, 28); // waits for the client: held replies go first
        assertThat(sends[0]).isEqualTo(2);
        readFully(input, 28); // buffered: nothing to send first
        readFully(input, 28);
        assertThat(sends[0]).isEqualTo(2);
        assertThat(input.read(ByteBuffer.allocate(28))).isEqualTo(-1);
        assertThat(sends[0]).as("and before the read that finds the end").isEqualTo(3);
    }
}
