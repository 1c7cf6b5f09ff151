package org.qedkit.nbd;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.CreateOptions;
import org.qedkit.MapEntry;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The server as real NBD clients see it: QEMU's {@code qemu-io} and {@code qemu-img} over
 * {@code nbd+unix://} and {@code nbd://}, and libnbd's {@code nbdinfo} and {@code nbdcopy}.
 * Every test ends by closing the server and the image and asking {@code qemu-img check}.
 */
class RealClientsTest {
    private static final long SIZE = 64L << 20;

    @TempDir
    Path dir;
    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeEverything() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    private QedImage image(String name) throws IOException {
        Path p = dir.resolve(name);
        QedImage.create(p, CreateOptions.ofSize(SIZE));
        QedImage image = QedImage.open(p);
        open.add(image);
        return image;
    }

    private NbdServer serve(NbdExport export, java.net.SocketAddress address) throws IOException {
        NbdServer server = NbdServer.builder().export(export).listen(address).build().start();
        open.add(server);
        return server;
    }

    private String unixUri(String exportName) throws IOException {
        Path socket = dir.resolve("s.sock").toAbsolutePath();
        return "nbd+unix:///" + exportName + "?socket=" + socket;
    }

    private String serveUnix(NbdExport export) throws IOException {
        serve(export, UnixDomainSocketAddress.of(dir.resolve("s.sock").toAbsolutePath()));
        return unixUri(export.name());
    }

    /** Closes the server and the image (in that order), then returns the image's path for checks. */
    private Path closeAll(QedImage image) throws Exception {
        closeEverything();
        open.clear();
        return image.path();
    }

    @Test
    void qemuIoWritesReadsZeroesTrimsAndFlushesOverAUnixSocket() throws Exception {
        QedImage image = image("a.qed");
        String uri = serveUnix(NbdExport.of("", image).withUnmap(true));
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 0x33 0 1M", "-c", "write -P 0x44 1M 1M",
                "-c", "write -z 2M 1M", "-c", "flush", uri).ok();
        assertThat(QemuTools.qemuIo("-f", "raw", "-c", "read -P 0x33 0 1M", "-c", "read -P 0x44 1M 1M",
                "-c", "read -P 0 2M 1M", "-c", "read -P 0 8M 64k", uri).ok().stdout())
                .doesNotContain("Pattern verification failed");
        QemuTools.qemuIo("-f", "raw", "-c", "discard 1M 1M", "-c", "flush", uri).ok();
        QemuTools.qemuIo("-f", "raw", "-c", "read -P 0 1M 1M", uri).ok();
        assertThat(image.extentAt(1L << 20).isAllocated()).as("the trimmed range is freed in the image").isFalse();

        Path p = closeAll(image);
        QemuTools.qemuImg("check", p).ok();
        String direct = QemuTools.qemuIo("-f", "qed", "-c", "read -P 0x33 0 1M", "-c", "read -P 0 1M 2M", p).ok().stdout();
        assertThat(direct).doesNotContain("Pattern verification failed");
    }

    @Test
    void qemuIoOverTcpOnTheLoopbackAddress() throws Exception {
        QedImage image = image("t.qed");
        NbdServer server = serve(NbdExport.of("disk", image), new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        int port = ((InetSocketAddress) server.localAddresses().getFirst()).getPort();
        String uri = "nbd://127.0.0.1:" + port + "/disk";
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 0x5a 4k 12k", "-c", "flush", uri).ok();
        assertThat(QemuTools.qemuIo("-f", "raw", "-c", "read -P 0x5a 4k 12k", "-c", "read -P 0 0 4k", uri).ok().stdout())
                .doesNotContain("Pattern verification failed");
        QemuTools.qemuImg("check", closeAll(image)).ok();
    }

    @Test
    void aReadOnlyExportIsOpenedReadOnlyByQemu() throws Exception {
        QedImage image = image("ro.qed");
        image.write(0, filled(4096, (byte) 9));
        String uri = serveUnix(NbdExport.of("", image).withReadOnly(true));
        // qemu-io sees the read-only flag and refuses to open the export for writing at all
        // (the EPERM a write would get is in NbdProtocolTest, from a client that sends one).
        QemuTools.Result write = QemuTools.qemuIo("-f", "raw", "-c", "write -P 1 0 4k", uri);
        assertThat(write.exitCode()).isNotZero();
        assertThat(write.stderr()).contains("Permission denied");
        assertThat(QemuTools.qemuIo("-r", "-f", "raw", "-c", "read -P 9 0 4k", uri).ok().stdout())
                .doesNotContain("Pattern verification failed");
    }

    @Test
    void qemuImgInfoCompareAndMapSeeTheImageAsItIs() throws Exception {
        QedImage image = image("m.qed");
        image.write(0, new byte[65536]);                       // data that happens to be zero
        image.write(5L << 20, filled(3 * 65536, (byte) 7));   // three data clusters
        image.writeZeroes(9L << 20, 1L << 20, false);          // zero clusters
        image.flush();
        String uri = serveUnix(NbdExport.of("", image));

        assertThat(QemuTools.qemuImg("info", "-f", "raw", uri).ok().stdout())
                .contains("virtual size: 64 MiB (" + SIZE + " bytes)");
        assertThat(QemuTools.qemuImg("compare", "-f", "qed", "-F", "raw", "-U", image.path(), uri).ok().stdout())
                .contains("Images are identical.");

        // qemu-img map over NBD (base:allocation) and the engine's own map agree on which
        // bytes are data and which read as zeros, run by run.
        String json = QemuTools.qemuImg("map", "--output=json", "-f", "raw", uri).ok().stdout();
        assertThat(runs(json)).isEqualTo(engineRuns(image));
    }

    @Test
    void qemuImgConvertCopiesIntoAndOutOfAnExport() throws Exception {
        Path raw = dir.resolve("src.raw");
        byte[] data = new byte[(int) SIZE];
        for (int i = 0; i < data.length; i += 1 << 20) {
            if ((i >> 20) % 3 == 0) {
                java.util.Arrays.fill(data, i, i + 65536, (byte) (i >> 20)); // some data, mostly holes
            }
        }
        Files.write(raw, data);
        QedImage image = image("cv.qed");
        String uri = serveUnix(NbdExport.of("", image).withUnmap(true));
        QemuTools.qemuImg("convert", "-n", "-f", "raw", "-O", "raw", raw, uri).ok();
        Path out = dir.resolve("out.qcow2");
        QemuTools.qemuImg("convert", "-f", "raw", "-O", "qcow2", uri, out).ok();
        assertThat(QemuTools.qemuImg("compare", "-f", "raw", "-F", "qcow2", raw, out).ok().stdout())
                .contains("Images are identical.");
        assertThat(image.extentAt(1L << 20).isAllocated()).as("holes of the source stay holes in the export").isFalse();
        QemuTools.qemuImg("check", closeAll(image)).ok();
    }

    @Test
    void nbdinfoListsExportsMapsAllocationAndSeesMultiConn() throws Exception {
        QemuTools.require("nbdinfo");
        QedImage image = image("i.qed");
        image.write(1L << 20, filled(65536, (byte) 1));
        Path socket = dir.resolve("s.sock").toAbsolutePath();
        NbdServer server = NbdServer.builder()
                .export(NbdExport.of("first", image).withDescription("the first disk"))
                .export(NbdExport.of("second", image).withReadOnly(true))
                .listen(UnixDomainSocketAddress.of(socket)).build().start();
        open.add(server);

        String list = QemuTools.run(List.of("nbdinfo", "--list", "nbd+unix:///?socket=" + socket)).ok().stdout();
        assertThat(list).contains("export=\"first\"").contains("export=\"second\"").contains("the first disk");

        String map = QemuTools.run(List.of("nbdinfo", "--map", "nbd+unix:///first?socket=" + socket)).ok().stdout();
        assertThat(map).containsPattern("(?m)^\\s*0\\s+1048576\\s+3\\s+hole,zero$")
                .containsPattern("(?m)^\\s*1048576\\s+65536\\s+0\\s+data$");

        assertThat(QemuTools.run(List.of("nbdinfo", "--can", "multi-conn", "nbd+unix:///first?socket=" + socket)).exitCode())
                .as("nbdinfo --can multi-conn exits 0 when the server advertises it").isZero();
        String info = QemuTools.run(List.of("nbdinfo", "nbd+unix:///second?socket=" + socket)).ok().stdout();
        assertThat(info).contains("is_read_only: true").contains("base:allocation").contains("qemu:allocation-depth");
    }

    @Test
    void nbdcopyCopiesInAndOutOverFourConnections() throws Exception {
        QemuTools.require("nbdcopy");
        Path raw = dir.resolve("in.raw");
        byte[] data = new byte[(int) SIZE];
        java.util.SplittableRandom random = new java.util.SplittableRandom(5);
        for (int i = 0; i < data.length; i += 4096) {
            if (random.nextInt(4) == 0) {
                for (int j = 0; j < 4096; j++) {
                    data[i + j] = (byte) random.nextInt();
                }
            }
        }
        Files.write(raw, data);
        QedImage image = image("c.qed");
        String uri = serveUnix(NbdExport.of("", image));
        QemuTools.run(List.of("nbdcopy", "--connections=4", raw.toString(), uri)).ok();
        Path back = dir.resolve("out.raw");
        QemuTools.run(List.of("nbdcopy", "--connections=4", uri, back.toString())).ok();
        assertThat(Files.mismatch(raw, back)).as("copied out equals copied in").isEqualTo(-1L);
        Path p = closeAll(image);
        QemuTools.qemuImg("check", p).ok();
        assertThat(QemuTools.qemuImg("compare", "-f", "raw", "-F", "qed", raw, p).ok().stdout())
                .contains("Images are identical.");
    }

    @Test
    void fioVerifiesItsRandomWritesOverBothTransports() throws Exception {
        QemuTools.require("fio");
        QedImage image = image("f.qed");
        NbdServer server = NbdServer.builder().export(NbdExport.of("", image).withUnmap(true))
                .listen(UnixDomainSocketAddress.of(dir.resolve("s.sock").toAbsolutePath()))
                .listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).build().start();
        open.add(server);
        int port = ((InetSocketAddress) server.localAddresses().get(1)).getPort();
        String[] uris = {unixUri(""), "nbd://127.0.0.1:" + port + "/"};
        for (int i = 0; i < uris.length; i++) {
            // Each run writes its half of the disk at random with a crc32c header in every
            // block, at 16 requests in flight, then reads every block back and checks it.
            QemuTools.Result fio = QemuTools.run(List.of("fio", "--name=verify" + i, "--ioengine=nbd", "--uri=" + uris[i],
                    "--rw=randwrite", "--bs=4k", "--iodepth=16", "--offset=" + (i * SIZE / 2), "--size=" + (SIZE / 8),
                    "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--verify_state_save=0", "--randseed=" + (42 + i),
                    "--output-format=json"));
            assertThat(fio.exitCode()).as("fio over %s:%n%s%n%s", uris[i], fio.stdout(), fio.stderr()).isZero();
            assertThat(fio.stdout()).as("the verify pass read the blocks back")
                    .containsPattern("\"read\" : \\{\\s*\"io_bytes\" : [1-9]");
        }
        QemuTools.qemuImg("check", closeAll(image)).ok();
    }

    private static byte[] filled(int n, byte value) {
        byte[] b = new byte[n];
        java.util.Arrays.fill(b, value);
        return b;
    }

    /** {"start", "length", "data", "zero"} runs of qemu-img map's JSON, neighbours with the same state merged. */
    private static List<String> runs(String json) {
        List<long[]> runs = new ArrayList<>();
        Matcher m = Pattern.compile("\"start\": (\\d+), \"length\": (\\d+),.*?\"zero\": (true|false), \"data\": (true|false)")
                .matcher(json);
        while (m.find()) {
            add(runs, Long.parseLong(m.group(1)), Long.parseLong(m.group(2)),
                    Boolean.parseBoolean(m.group(4)), Boolean.parseBoolean(m.group(3)));
        }
        return format(runs);
    }

    private static List<String> engineRuns(QedImage image) throws IOException {
        List<long[]> runs = new ArrayList<>();
        for (long pos = 0; pos < image.size(); ) {
            MapEntry e = image.mapEntryAt(pos);
            long end = Math.min(image.size(), e.start() + e.length());
            add(runs, pos, end - pos, e.data(), e.zero() || !e.present());
            pos = end;
        }
        return format(runs);
    }

    private static void add(List<long[]> runs, long start, long length, boolean data, boolean zero) {
        long[] last = runs.isEmpty() ? null : runs.getLast();
        long d = data ? 1 : 0;
        long z = zero ? 1 : 0;
        if (last != null && last[2] == d && last[3] == z && last[0] + last[1] == start) {
            last[1] += length;
        } else {
            runs.add(new long[]{start, length, d, z});
        }
    }

    private static List<String> format(List<long[]> runs) {
        return runs.stream().map(r -> r[0] + "+" + r[1] + (r[2] == 1 ? " data" : "") + (r[3] == 1 ? " zero" : "")).toList();
    }
}
