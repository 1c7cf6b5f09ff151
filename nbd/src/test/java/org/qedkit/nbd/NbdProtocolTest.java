package org.qedkit.nbd;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.CreateOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The protocol as the specification words it, request by request, from a client that sends
 * what real clients never would: every malformed or out-of-range request gets the error the
 * specification names, or the disconnect it requires, and the server keeps serving.
 */
class NbdProtocolTest {
    private static final int CLUSTER = 65536;
    private static final long SIZE = 64L << 20;

    @TempDir
    Path dir;
    private QedImage image;
    private NbdServer server;
    private UnixDomainSocketAddress address;

    @BeforeEach
    void serve() throws IOException {
        Path p = dir.resolve("p.qed");
        QedImage.create(p, CreateOptions.ofSize(SIZE));
        image = QedImage.open(p);
        address = UnixDomainSocketAddress.of(dir.resolve("p.sock"));
        server = NbdServer.builder()
                .export(NbdExport.of("rw", image).withUnmap(true))
                .export(NbdExport.of("ro", image).withReadOnly(true))
                .export(NbdExport.of("keep", image))
                .listen(address)
                .handshakeTimeout(Duration.ofMillis(500))
                .build().start();
    }

    @AfterEach
    void stop() throws IOException {
        server.close();
        image.close();
    }

    private static byte[] bytes(int n, int value) {
        byte[] b = new byte[n];
        java.util.Arrays.fill(b, (byte) value);
        return b;
    }

    // ------------------------------------------------------------------ the socket

    @Test
    void theSocketFileAppearsListeningUnderItsNameAloneAndGoesWithTheServer() throws IOException {
        // Bound under a private name and renamed into place: whoever sees the file can connect.
        try (java.util.stream.Stream<Path> files = java.nio.file.Files.list(dir)) {
            assertThat(files.map(f -> f.getFileName().toString())).containsExactlyInAnyOrder("p.qed", "p.sock");
        }
        try (NbdTestClient c = NbdTestClient.connect(address)) {
            assertThat(c.option(NbdWire.OPT_GO, NbdTestClient.goData("rw")).getLast().type()).isEqualTo(NbdWire.REP_ACK);
        }
        server.close();
        assertThat(dir.resolve("p.sock")).doesNotExist();
    }

    // ------------------------------------------------------------------ handshake

    @Test
    void anUnknownOptionIsRefusedAsUnsupportedAndTheHandshakeGoesOn() throws IOException {
        try (NbdTestClient c = NbdTestClient.connect(address)) {
            List<NbdTestClient.OptionReply> r = c.option(99, new byte[]{1, 2, 3});
            assertThat(r.getLast().type()).isEqualTo(NbdWire.REP_ERR_UNSUP);
            assertThat(c.option(NbdWire.OPT_GO, NbdTestClient.goData("rw")).getLast().type()).isEqualTo(NbdWire.REP_ACK);
            assertThat(c.size()).isEqualTo(SIZE);
        }
    }

    @Test
    void goForAnUnknownExportIsRefusedWithItsName() throws IOException {
        try (NbdTestClient c = NbdTestClient.connect(address)) {
            NbdTestClient.OptionReply r = c.option(NbdWire.OPT_GO, NbdTestClient.goData("nope")).getLast();
            assertThat(r.type()).isEqualTo(NbdWire.REP_ERR_UNKNOWN);
            assertThat(r.text()).contains("nope");
        }
    }

    @Test
    void malformedGoDataIsInvalidNotFatal() throws IOException {
        try (NbdTestClient c = NbdTestClient.connect(address)) {
            byte[] lying = ByteBuffer.allocate(8).putInt(1000).putShort((short) 0).array(); // name longer than the data
            assertThat(c.option(NbdWire.OPT_GO, lying).getLast().type()).isEqualTo(NbdWire.REP_ERR_INVALID);
            assertThat(c.option(NbdWire.OPT_LIST, new byte[]{1}).getLast().type()).isEqualTo(NbdWire.REP_ERR_INVALID);
            assertThat(c.option(NbdWire.OPT_SET_META_CONTEXT, NbdTestClient.metaContextData("rw", NbdWire.BASE_ALLOCATION))
                    .getLast().type()).as("contexts before structured replies").isEqualTo(NbdWire.REP_ERR_INVALID);
            assertThat(c.option(NbdWire.OPT_GO, NbdTestClient.goData("rw")).getLast().type()).isEqualTo(NbdWire.REP_ACK);
        }
    }

    @Test
    void exportNameForAnUnknownExportEndsTheConnection() throws IOException {
        try (NbdTestClient c = NbdTestClient.connect(address)) {
            c.sendRaw(ByteBuffer.allocate(20).putLong(NbdWire.IHAVEOPT).putInt(NbdWire.OPT_EXPORT_NAME).putInt(4)
                    .put("nope".getBytes()).array());
            assertThat(c.closedByServer(5000)).isTrue();
        }
    }

    @Test
    void aClientThatStallsInTheHandshakeIsDropped() throws IOException {
        try (NbdTestClient c = NbdTestClient.connect(address)) {
            assertThat(c.closedByServer(5000)).as("dropped after the 500 ms handshake limit").isTrue();
        }
    }

    @Test
    void metaContextsAreListedAndSelectedByName() throws IOException {
        try (NbdTestClient c = NbdTestClient.connect(address)) {
            c.option(NbdWire.OPT_STRUCTURED_REPLY, new byte[0]);
            List<NbdTestClient.OptionReply> all = c.option(NbdWire.OPT_LIST_META_CONTEXT, NbdTestClient.metaContextData("rw"));
            assertThat(all.stream().filter(r -> r.type() == NbdWire.REP_META_CONTEXT).map(r -> new String(r.data(), 4, r.data().length - 4)))
                    .containsExactly(NbdWire.BASE_ALLOCATION, NbdWire.ALLOCATION_DEPTH);
            List<NbdTestClient.OptionReply> set = c.option(NbdWire.OPT_SET_META_CONTEXT,
                    NbdTestClient.metaContextData("rw", "base:", "x-unknown:thing", NbdWire.BASE_ALLOCATION));
            assertThat(set.stream().filter(r -> r.type() == NbdWire.REP_META_CONTEXT).count())
                    .as("base: is ignored by SET, unknown namespaces too").isEqualTo(1);
        }
    }

    // ------------------------------------------------------------------ transmission

    @Test
    void requestsOutOfRangeOrRefusedGetTheSpecificationsErrorsAndServingGoesOn() throws IOException {
        long size = SIZE;
        try (NbdTestClient c = NbdTestClient.open(address, "rw")) {
            c.request(NbdWire.CMD_READ, 0, 1, size - 512, 1024, null);
            assertThat(c.reply(0).error()).as("read past the end").isEqualTo(NbdWire.EINVAL);
            c.request(NbdWire.CMD_WRITE, 0, 2, size - 512, 1024, new byte[1024]);
            assertThat(c.reply(0).error()).as("write past the end").isEqualTo(NbdWire.ENOSPC);
            c.request(NbdWire.CMD_WRITE_ZEROES, 0, 3, -4096, 4096, null);
            assertThat(c.reply(0).error()).as("zeroes at an offset past 2^63").isEqualTo(NbdWire.ENOSPC);
            c.request(NbdWire.CMD_TRIM, 0, 4, size, 1, null);
            assertThat(c.reply(0).error()).as("trim past the end").isEqualTo(NbdWire.EINVAL);
            c.request(42, 0, 5, 0, 0, null);
            assertThat(c.reply(0).error()).as("unknown command").isEqualTo(NbdWire.EINVAL);
            c.request(NbdWire.CMD_FLUSH, NbdWire.CMD_FLAG_DF, 6, 0, 0, null);
            assertThat(c.reply(0).error()).as("a flag not valid for the command").isEqualTo(NbdWire.EINVAL);
            c.request(NbdWire.CMD_BLOCK_STATUS, 0, 7, 0, 4096, null);
            assertThat(c.reply(0).error()).as("block status without a context").isEqualTo(NbdWire.EINVAL);
            c.request(NbdWire.CMD_READ, NbdWire.CMD_FLAG_DF, 8, 0, (32 << 20) + 1, null);
            assertThat(c.reply(0).error()).as("an unfragmented read over 32 MiB").isEqualTo(NbdWire.EOVERFLOW);

            c.request(NbdWire.CMD_WRITE, 0, 9, 4096, 4096, bytes(4096, 0x21));
            assertThat(c.reply(0).error()).as("still serving").isZero();
        }
    }

    @Test
    void aReadOnlyExportRefusesChangesWithEpermAndReadsTheRestOfTheWrite() throws IOException {
        try (NbdTestClient c = NbdTestClient.open(address, "ro")) {
            assertThat(c.transmissionFlags() & NbdWire.TF_READ_ONLY).isNotZero();
            c.request(NbdWire.CMD_WRITE, 0, 1, 0, 8192, bytes(8192, 1));
            assertThat(c.reply(0).error()).isEqualTo(NbdWire.EPERM);
            c.request(NbdWire.CMD_TRIM, 0, 2, 0, 8192, null);
            assertThat(c.reply(0).error()).isEqualTo(NbdWire.EPERM);
            c.request(NbdWire.CMD_WRITE_ZEROES, 0, 3, 0, 8192, null);
            assertThat(c.reply(0).error()).isEqualTo(NbdWire.EPERM);
            c.request(NbdWire.CMD_READ, 0, 4, 0, 4096, null);
            List<NbdTestClient.Reply> read = c.structuredReply();
            assertThat(read.getLast().error()).as("the write's payload was consumed, not taken as requests").isZero();
        }
        assertThat(image.extentAt(0).isAllocated()).isFalse();
    }

    @Test
    void aBadRequestMagicOrAnOversizedWriteEndsTheConnection() throws IOException {
        try (NbdTestClient c = NbdTestClient.open(address, "rw")) {
            c.sendRaw(new byte[28]);
            assertThat(c.closedByServer(5000)).isTrue();
        }
        try (NbdTestClient c = NbdTestClient.open(address, "rw")) {
            c.request(NbdWire.CMD_WRITE, 0, 1, 0, (32L << 20) + 1, null); // header only: the server must not wait for 32 MiB
            assertThat(c.closedByServer(5000)).isTrue();
        }
    }

    @Test
    void structuredReadsSendZerosAsHolesAndDontFragmentSendsOneDataChunk() throws IOException {
        image.write(CLUSTER, bytes(CLUSTER, 0x42));
        try (NbdTestClient c = NbdTestClient.open(address, "rw")) {
            c.request(NbdWire.CMD_READ, 0, 7, 0, 3L * CLUSTER, null);
            List<NbdTestClient.Reply> chunks = c.structuredReply();
            assertThat(chunks).extracting(NbdTestClient.Reply::type)
                    .containsExactly(NbdWire.REPLY_TYPE_OFFSET_HOLE, NbdWire.REPLY_TYPE_OFFSET_DATA, NbdWire.REPLY_TYPE_OFFSET_HOLE);
            assertThat(chunks).allMatch(r -> r.cookie() == 7);
            ByteBuffer data = ByteBuffer.wrap(chunks.get(1).payload());
            assertThat(data.getLong()).isEqualTo(CLUSTER);
            assertThat(data.remaining()).isEqualTo(CLUSTER);
            assertThat(ByteBuffer.wrap(chunks.get(2).payload()).getInt(8)).as("hole size").isEqualTo(CLUSTER);

            c.request(NbdWire.CMD_READ, NbdWire.CMD_FLAG_DF, 8, 0, 3L * CLUSTER, null);
            List<NbdTestClient.Reply> one = c.structuredReply();
            assertThat(one).hasSize(1);
            byte[] payload = one.getFirst().payload();
            assertThat(payload.length).isEqualTo(8 + 3 * CLUSTER);
            assertThat(payload[8]).isZero();
            assertThat(payload[8 + CLUSTER]).isEqualTo((byte) 0x42);
        }
    }

    @Test
    void blockStatusDescribesBothContextsAndHonoursReqOne() throws IOException {
        image.write(2L * CLUSTER, bytes(2 * CLUSTER, 1));
        try (NbdTestClient c = NbdTestClient.open(address, "rw", NbdWire.BASE_ALLOCATION, NbdWire.ALLOCATION_DEPTH)) {
            c.request(NbdWire.CMD_BLOCK_STATUS, 0, 1, 0, 8L * CLUSTER, null);
            List<NbdTestClient.Reply> chunks = c.structuredReply();
            assertThat(chunks).hasSize(2).allMatch(r -> r.type() == NbdWire.REPLY_TYPE_BLOCK_STATUS);
            assertThat(descriptors(chunks.get(0))).containsExactly(
                    2L * CLUSTER, 3L, 2L * CLUSTER, 0L, 4L * CLUSTER, 3L);
            assertThat(descriptors(chunks.get(1))).containsExactly(
                    2L * CLUSTER, 0L, 2L * CLUSTER, 1L, 4L * CLUSTER, 0L);

            c.request(NbdWire.CMD_BLOCK_STATUS, NbdWire.CMD_FLAG_REQ_ONE, 2, 0, 8L * CLUSTER, null);
            for (NbdTestClient.Reply r : c.structuredReply()) {
                assertThat(descriptors(r)).containsExactly(2L * CLUSTER, r.payload()[3] == 1 ? 3L : 0L);
            }
        }
    }

    /** (length, flags) pairs of a block status chunk. */
    private static List<Long> descriptors(NbdTestClient.Reply r) {
        ByteBuffer b = ByteBuffer.wrap(r.payload());
        b.getInt();
        List<Long> out = new java.util.ArrayList<>();
        while (b.hasRemaining()) {
            out.add(Integer.toUnsignedLong(b.getInt()));
            out.add(Integer.toUnsignedLong(b.getInt()));
        }
        return out;
    }

    @Test
    void trimFreesClustersOnAnUnmapExportAndFastZeroIsRefusedWhereItWouldWrite() throws IOException {
        image.write(0, bytes(4 * CLUSTER, 3));
        try (NbdTestClient c = NbdTestClient.open(address, "keep")) {
            c.request(NbdWire.CMD_TRIM, 0, 1, 0, CLUSTER, null);
            assertThat(c.reply(0).error()).isZero();
            assertThat(image.extentAt(0).isAllocated()).as("an export without unmap keeps trimmed clusters").isTrue();
            c.request(NbdWire.CMD_WRITE_ZEROES, NbdWire.CMD_FLAG_FAST_ZERO, 2, 0, CLUSTER, null);
            assertThat(c.reply(0).error()).isEqualTo(NbdWire.ENOTSUP);
        }
        try (NbdTestClient c = NbdTestClient.open(address, "rw")) {
            c.request(NbdWire.CMD_TRIM, NbdWire.CMD_FLAG_FUA, 1, 0, 2L * CLUSTER, null);
            assertThat(c.reply(0).error()).isZero();
            assertThat(image.extentAt(0).isAllocated()).isFalse();
            c.request(NbdWire.CMD_WRITE_ZEROES, NbdWire.CMD_FLAG_FAST_ZERO, 2, 2L * CLUSTER, CLUSTER, null);
            assertThat(c.reply(0).error()).isZero();
            byte[] back = new byte[CLUSTER];
            image.read(2L * CLUSTER, back);
            assertThat(back).containsOnly(0);
        }
    }

    @Test
    void manyRequestsInFlightAllGetTheirOwnReplies() throws Exception {
        for (int i = 0; i < 64; i++) {
            image.write((long) i * CLUSTER, bytes(CLUSTER, i + 1));
        }
        try (NbdTestClient c = NbdTestClient.open(address, "rw")) {
            int requests = 500;
            // Sent from another thread while this one reads replies, as real clients do: a
            // client that only writes would fill the socket with replies it never reads.
            Thread sender = Thread.ofPlatform().start(() -> {
                try {
                    for (int i = 0; i < requests; i++) {
                        c.request(NbdWire.CMD_READ, NbdWire.CMD_FLAG_DF, 1000 + i, (long) (i % 64) * CLUSTER + 100, 4000, null);
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            Set<Long> seen = new HashSet<>();
            for (int i = 0; i < requests; i++) {
                NbdTestClient.Reply r = c.reply(0);
                assertThat(r.error()).isZero();
                assertThat(seen.add(r.cookie())).as("one reply per cookie").isTrue();
                int cluster = (int) ((r.cookie() - 1000) % 64);
                assertThat(r.payload()[8]).as("the data of the request's own offset").isEqualTo((byte) (cluster + 1));
            }
            assertThat(seen).hasSize(requests);
            sender.join();
        }
    }

    @Test
    void closingTheServerAnswersWhatWasReadThenClosesTheConnections() throws Exception {
        NbdTestClient c = NbdTestClient.open(address, "rw");
        c.request(NbdWire.CMD_WRITE, NbdWire.CMD_FLAG_FUA, 1, 0, 65536, bytes(65536, 9));
        assertThat(c.reply(0).error()).isZero();
        server.close();
        assertThat(c.closedByServer(5000)).isTrue();
        c.close();
        byte[] back = new byte[65536];
        image.read(0, back);
        assertThat(back).containsOnly(9);
    }

    @Test
    void atMostMaxConnectionsAreServedAtATime() throws Exception {
        server.close();
        server = NbdServer.builder().export(NbdExport.of("", image)).listen(address).maxConnections(1).build().start();
        NbdTestClient first = NbdTestClient.open(address, "");
        java.util.concurrent.CompletableFuture<NbdTestClient> second = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return NbdTestClient.open(address, "");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Thread.sleep(300);
        assertThat(second).as("the second client waits while the first is served").isNotDone();
        first.close();
        try (NbdTestClient c = second.get(10, java.util.concurrent.TimeUnit.SECONDS)) {
            c.request(NbdWire.CMD_FLUSH, 0, 1, 0, 0, null);
            assertThat(c.reply(0).error()).isZero();

            // With every slot taken, close() still ends at once (the accept loop waits for a
            // slot, not in accept(), and must be woken).
            long started = System.nanoTime();
            server.close();
            assertThat(java.time.Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(5));
            assertThat(c.closedByServer(5000)).isTrue();
        }
    }
}
