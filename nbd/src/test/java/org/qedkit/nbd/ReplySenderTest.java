package org.qedkit.nbd;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.GatheringByteChannel;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Replies held back while requests wait: the reading thread's replies wait while more
 * requests are buffered and leave together, in order, in one write; nothing else waits.
 */
class ReplySenderTest {

    /** A socket that keeps what was written and counts the write calls. */
    private static final class Wire implements ByteChannel, GatheringByteChannel {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int writes;

        @Override
        public int write(ByteBuffer src) {
            writes++;
            return take(src);
        }

        /** As writev(2) does it: every element's bytes as they stood when the call began, then the positions moved. */
        @Override
        public long write(ByteBuffer[] srcs, int offset, int length) {
            writes++;
            long n = 0;
            for (int i = offset; i < offset + length; i++) {
                byte[] b = new byte[srcs[i].remaining()];
                srcs[i].get(srcs[i].position(), b);
                bytes.write(b, 0, b.length);
                n += b.length;
            }
            for (int i = offset; i < offset + length; i++) {
                srcs[i].position(srcs[i].limit());
            }
            return n;
        }

        @Override
        public long write(ByteBuffer[] srcs) {
            return write(srcs, 0, srcs.length);
        }

        private int take(ByteBuffer src) {
            int n = src.remaining();
            byte[] b = new byte[n];
            src.get(b);
            bytes.write(b, 0, n);
            return n;
        }

        @Override
        public int read(ByteBuffer dst) {
            return -1;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    private static ByteBuffer simpleReply(long cookie) {
        return ByteBuffer.allocate(16).putInt(NbdWire.SIMPLE_REPLY_MAGIC).putInt(0).putLong(cookie).flip();
    }

    private static ByteBuffer chunk(long cookie, long offset, byte[] data) {
        return ByteBuffer.allocate(28 + data.length).putInt(NbdWire.STRUCTURED_REPLY_MAGIC)
                .putShort((short) NbdWire.REPLY_FLAG_DONE).putShort((short) NbdWire.REPLY_TYPE_OFFSET_DATA)
                .putLong(cookie).putInt(8 + data.length).putLong(offset).put(data).flip();
    }

    private static byte[] concat(ByteBuffer... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (ByteBuffer p : parts) {
            byte[] b = new byte[p.remaining()];
            p.get(b);
            out.write(b, 0, b.length);
        }
        return out.toByteArray();
    }

    @Test
    void theReadingThreadsRepliesWaitWhileRequestsAreBufferedThenLeaveInOneWrite() throws Exception {
        Wire wire = new Wire();
        boolean[] waiting = {true};
        ReplySender replies = new ReplySender(wire, Thread.currentThread(), () -> waiting[0]);
        byte[] data = new byte[4000];
        java.util.Arrays.fill(data, (byte) 7);
        replies.simple(1, 0);
        replies.offsetData(2, true, 8192, ByteBuffer.wrap(data));
        replies.simple(3, 0);
        assertThat(wire.writes).as("held while requests wait").isZero();
        replies.sendHeld();
        assertThat(wire.writes).isEqualTo(1);
        assertThat(wire.bytes.toByteArray()).isEqualTo(concat(simpleReply(1), chunk(2, 8192, data), simpleReply(3)));
        replies.sendHeld();
        assertThat(wire.writes).as("nothing held, nothing written").isEqualTo(1);
    }

    @Test
    void aReplyWithNoRequestWaitingGoesAtOnceAfterWhatWasHeld() throws Exception {
        Wire wire = new Wire();
        boolean[] waiting = {true};
        ReplySender replies = new ReplySender(wire, Thread.currentThread(), () -> waiting[0]);
        replies.simple(1, 0);
        waiting[0] = false;
        replies.simple(2, 0);
        assertThat(wire.writes).isEqualTo(1);
        assertThat(wire.bytes.toByteArray()).isEqualTo(concat(simpleReply(1), simpleReply(2)));
    }

    @Test
    void anotherThreadsReplyIsNeverHeldAndSendsTheHeldOnesFirst() throws Exception {
        Wire wire = new Wire();
        ReplySender replies = new ReplySender(wire, Thread.currentThread(), () -> true);
        replies.simple(1, 0);
        Thread other = Thread.ofPlatform().start(() -> {
            try {
                replies.simple(2, 0);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        other.join();
        assertThat(wire.bytes.toByteArray()).isEqualTo(concat(simpleReply(1), simpleReply(2)));
    }

    @Test
    void aReplyWithoutPayloadThatNoLongerFitsIsWrittenOnceAfterTheHeldOnes() throws Exception {
        Wire wire = new Wire();
        ReplySender replies = new ReplySender(wire, Thread.currentThread(), () -> true);
        byte[] fill = new byte[(64 << 10) - 16 - 28 - 10]; // leaves 10 bytes of the holding buffer
        replies.simple(1, 0);
        replies.offsetData(2, true, 0, ByteBuffer.wrap(fill));
        replies.simple(3, 0); // 16 bytes: does not fit, goes out with the held ones
        assertThat(wire.bytes.toByteArray()).isEqualTo(concat(simpleReply(1), chunk(2, 0, fill), simpleReply(3)));
    }

    @Test
    void aStreamedReplyLargerThanTheHoldingBufferKeepsItsBytesInOrder() throws Exception {
        Wire wire = new Wire();
        ReplySender replies = new ReplySender(wire, Thread.currentThread(), () -> true);
        replies.simple(1, 0);
        byte[] big = new byte[100_000];
        new java.util.Random(5).nextBytes(big);
        replies.lockForStream();
        try {
            replies.offsetDataHeaderLocked(2, true, 0, big.length);
            replies.rawLocked(ByteBuffer.wrap(big, 0, 60_000));
            replies.rawLocked(ByteBuffer.wrap(big, 60_000, 40_000));
        } finally {
            replies.unlockStream();
        }
        replies.sendHeld();
        assertThat(wire.bytes.toByteArray()).isEqualTo(concat(simpleReply(1), chunk(2, 0, big)));
    }
}
