package org.qedkit.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.CheckMode;
import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;
import org.qedkit.testing.PageCache;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code qed serve} as a process, run through the {@code ./qed} launcher the way a user (or
 * a service manager) runs it: it holds the image's lock while serving, stops cleanly on
 * SIGTERM with exit code 0 and a clean image, and without {@code -t} ends when its client
 * leaves, as {@code qemu-nbd} does.
 */
class ServeIT {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final String LAUNCHER = ROOT.resolve("qed").toString();

    @TempDir
    Path dir;
    private final List<Process> started = new ArrayList<>();

    @AfterEach
    void stopServers() {
        started.forEach(Process::destroyForcibly);
    }

    private Process serve(String... args) throws IOException, InterruptedException {
        return serveWith(java.util.Map.of(), args);
    }

    private Process serveWith(java.util.Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(LAUNCHER, "serve"));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(dir.resolve("serve.out").toFile())
                .redirectError(dir.resolve("serve.err").toFile());
        builder.environment().putAll(env);
        Process p = builder.start();
        started.add(p);
        Path socket = dir.resolve("s.sock");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(socket)) {
            assertThat(p.isAlive()).as("qed serve is running; stderr: %s", stderr()).isTrue();
            assertThat(System.nanoTime()).as("the socket appears within 30 s").isLessThan(deadline);
            Thread.sleep(20);
        }
        return p;
    }

    private String stderr() {
        try {
            return Files.readString(dir.resolve("serve.err"));
        } catch (IOException e) {
            return e.toString();
        }
    }

    @Test
    void servesUntilSigtermThenEndsWithACleanImageAndExitCodeZero() throws Exception {
        Path image = dir.resolve("d.qed");
        QedImage.create(image, CreateOptions.ofSize(64L << 20));
        Path socket = dir.resolve("s.sock");
        Path pidFile = dir.resolve("serve.pid");
        Process server = serve("-k", socket.toString(), "-t", "--discard", "unmap", "--pid-file", pidFile.toString(),
                image.toString());
        String uri = "nbd+unix:///?socket=" + socket;
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 0x61 0 2M", "-c", "discard 1M 1M", uri).ok();
        assertThat(Files.readString(pidFile).trim()).isEqualTo(Long.toString(server.pid()));

        // The image's lock is held while serving: a writer is refused, a shared reader is not.
        QemuTools.Result writer = QemuTools.qemuIo("-f", "qed", "-c", "write 0 4k", image);
        assertThat(writer.exitCode()).isNotZero();
        assertThat(writer.stderr()).contains("Failed to get \"write\" lock");
        QemuTools.qemuImg("info", "-U", image).ok();

        server.destroy(); // SIGTERM
        assertThat(server.waitFor(30, TimeUnit.SECONDS)).as("qed serve ends after SIGTERM").isTrue();
        assertThat(server.exitValue()).as("exit code after SIGTERM; stderr: %s", stderr()).isZero();
        assertThat(Files.exists(socket)).as("the socket file is removed").isFalse();
        assertThat(Files.exists(pidFile)).as("the pid file is removed").isFalse();

        try (QedImage closed = QedImage.open(image, OpenOptions.READ_ONLY)) {
            assertThat(closed.header().needsCheck()).as("closed clean: NEED_CHECK is clear").isFalse();
        }
        assertThat(QedImage.check(image, CheckMode.REPORT).isClean()).isTrue();
        QemuTools.qemuImg("check", image).ok();
        QemuTools.qemuIo("-f", "qed", "-c", "read -P 0x61 0 1M", "-c", "read -P 0 1M 1M", image).ok();
    }

    /**
     * {@code --first-blocks-ahead}: on by default, a lone client's small write-through writes
     * into new clusters find the block they land in written ahead (ClusterAllocator, "First
     * blocks written ahead"); {@code off}, for a daemon that values its slowest writes over
     * its throughput, writes nothing ahead. Seen from outside while the server still holds
     * the image: clusters whose third block is in the page cache, all zeros, with their first
     * two blocks not (data clusters hold the client's bytes there; tables start at block 0).
     */
    @Test
    void firstBlocksAheadAreOnByDefaultAndOffWhenAsked() throws Exception {
        assertThat(clustersWrittenAheadWhileServing()).as("on by default").isGreaterThanOrEqualTo(4);
        assertThat(clustersWrittenAheadWhileServing("--first-blocks-ahead", "off")).as("off").isZero();

        QedRun bad = QedRun.of("serve", "--first-blocks-ahead", "sometimes", "-k", dir.resolve("x.sock"),
                dir.resolve("a.qed"));
        assertThat(bad.exitCode()).isEqualTo(1);
        assertThat(bad.stderr()).isEqualTo("qemu-nbd: Invalid first-blocks-ahead mode 'sometimes'\n");
    }

    /** 24 write-through writes of 4 KiB, one a cluster, into a fresh image served with {@code options}. */
    private long clustersWrittenAheadWhileServing(String... options) throws Exception {
        int cluster = 65536;
        int inCluster = 8192;
        Path image = dir.resolve("a.qed");
        Files.deleteIfExists(image);
        QedImage.create(image, CreateOptions.ofSize(1L << 30).withClusterSize(cluster));
        Path socket = dir.resolve("s.sock");
        List<String> args = new ArrayList<>(List.of("-k", socket.toString(), "-t", "--cache", "writethrough"));
        args.addAll(List.of(options));
        args.add(image.toString());
        Process server = serve(args.toArray(String[]::new));
        List<String> io = new ArrayList<>(List.of("-f", "raw"));
        for (int i = 0; i < 24; i++) {
            io.addAll(List.of("-c", "write -P 0x61 " + ((long) i * cluster + inCluster) + " 4k"));
        }
        io.add("nbd+unix:///?socket=" + socket);
        QemuTools.qemuIo(io.toArray()).ok();
        long ahead = PageCache.zeroBlocksAloneInCache(image, cluster, inCluster);
        server.destroy();
        assertThat(server.waitFor(30, TimeUnit.SECONDS)).as("qed serve ends after SIGTERM").isTrue();
        assertThat(server.exitValue()).as("exit code; stderr: %s", stderr()).isZero();
        QemuTools.qemuIo("-f", "qed", "-c", "read -P 0x61 " + (23L * cluster + inCluster) + " 4k", image).ok();
        return ahead;
    }

    /**
     * {@code -s}, as qemu-nbd's {@code --snapshot}: clients write into a temporary overlay,
     * the file itself is not changed, and the overlay is gone when the server ends.
     */
    @Test
    void snapshotModeServesATemporaryOverlayAndLeavesTheFileAsItWas() throws Exception {
        Path image = dir.resolve("s.qed");
        QedImage.create(image, CreateOptions.ofSize(16L << 20));
        QemuTools.qemuIo("-f", "qed", "-c", "write -P 0x11 0 1M", image).ok();
        Path tmp = Files.createDirectory(dir.resolve("tmp"));
        Path socket = dir.resolve("s.sock");
        Process server = serveWith(java.util.Map.of("TMPDIR", tmp.toString()), "-s", "-k", socket.toString(), "-t",
                image.toString());
        String uri = "nbd+unix:///?socket=" + socket;
        QemuTools.qemuIo("-f", "raw", "-c", "read -P 0x11 0 1M", "-c", "write -P 0x22 0 64k", uri).ok();
        QemuTools.qemuIo("-f", "raw", "-c", "read -P 0x22 0 64k", "-c", "read -P 0x11 64k 960k", uri).ok();
        try (var overlays = Files.list(tmp)) {
            assertThat(overlays.count()).as("one private folder for the overlay while serving").isEqualTo(1);
        }
        server.destroy(); // SIGTERM
        assertThat(server.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(server.exitValue()).as("stderr: %s", stderr()).isZero();
        try (var left = Files.list(tmp)) {
            assertThat(left.toList()).as("the overlay and its folder are deleted").isEmpty();
        }
        QemuTools.qemuIo("-f", "qed", "-c", "read -P 0x11 0 1M", image).ok();
    }

    /**
     * SIGKILL while a client writes and flushes: the image opens again (qemu-img check finds
     * no corruption; leaks are allowed after a crash) and every write whose flush was answered
     * reads back.
     */
    @Test
    void aSigkillMidLoadLosesNoWriteWhoseFlushWasAnswered() throws Exception {
        Path image = dir.resolve("k.qed");
        long size = 64L << 20;
        QedImage.create(image, CreateOptions.ofSize(size));
        Path socket = dir.resolve("s.sock");
        Process server = serve("-k", socket.toString(), "-t", image.toString());
        java.util.Map<Long, Integer> flushed = new java.util.HashMap<>();
        java.util.Map<Long, Integer> written = new java.util.HashMap<>();
        // The kill comes 300 ms after the fourth flush was answered (or after 60 s without it):
        // mid-load, whatever the machine's speed, with flushed writes to check.
        java.util.concurrent.CountDownLatch fourFlushes = new java.util.concurrent.CountDownLatch(4);
        Thread killer = Thread.ofPlatform().start(() -> {
            try {
                fourFlushes.await(60, TimeUnit.SECONDS);
                Thread.sleep(300);
            } catch (InterruptedException e) {
                return;
            }
            server.destroyForcibly(); // SIGKILL
        });
        String ended = "the loop never ended";
        try (org.qedkit.nbd.NbdTestClient c = org.qedkit.nbd.NbdTestClient.open(
                java.net.UnixDomainSocketAddress.of(socket), "")) {
            for (int i = 1; ; i++) {
                long offset = (i * 7919L % (size / 4096)) * 4096;
                byte[] block = new byte[4096];
                java.util.Arrays.fill(block, (byte) i);
                c.request(1, 0, i, offset, block.length, block); // NBD_CMD_WRITE
                int error = c.reply(0).error();
                if (error != 0) {
                    ended = "write " + i + " answered error " + error;
                    break;
                }
                written.put(offset, i);
                if (i % 16 == 0) {
                    c.request(3, 0, -i, 0, 0, null); // NBD_CMD_FLUSH
                    error = c.reply(0).error();
                    if (error != 0) {
                        ended = "flush after write " + i + " answered error " + error;
                        break;
                    }
                    flushed.putAll(written);
                    fourFlushes.countDown();
                }
            }
        } catch (IOException killed) {
            // the server is gone: what was flushed before this must have survived
            ended = "the connection ended after " + written.size() + " writes: " + killed;
        }
        killer.join();
        assertThat(server.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(flushed).as("writes flushed before the kill (%s; serve's stderr: %s)", ended, stderr()).isNotEmpty();

        QemuTools.Result qemu = QemuTools.qemuImg("check", image);
        assertThat(qemu.exitCode()).as("qemu-img check after SIGKILL: %s", qemu.stdout()).isIn(0, 3);
        try (QedImage reopened = QedImage.open(image, OpenOptions.READ_ONLY)) {
            byte[] back = new byte[4096];
            for (java.util.Map.Entry<Long, Integer> w : flushed.entrySet()) {
                reopened.read(w.getKey(), back);
                // The flushed generation, or a later write of the same block that may have reached the disk.
                assertThat(back[0]).as("the block at %d, flushed with generation %d", w.getKey(), w.getValue())
                        .isIn((byte) (int) w.getValue(), (byte) (int) written.get(w.getKey()));
            }
        }
        assertThat(QedImage.check(image, CheckMode.REPORT).corruptions()).isZero();
    }

    @Test
    void anExportDirectoryServesEveryImageInItByItsRelativePath() throws Exception {
        QemuTools.require("nbdinfo");
        Path root = Files.createDirectory(dir.resolve("exports"));
        Files.createDirectory(root.resolve("vm"));
        QedImage.create(root.resolve("one.qed"), CreateOptions.ofSize(8L << 20));
        QedImage.create(root.resolve("vm/two.qed"), CreateOptions.ofSize(8L << 20));
        Path socket = dir.resolve("s.sock");
        Process server = serve("-k", socket.toString(), "-t", "--export-dir", root.toString());
        String list = QemuTools.run(List.of("nbdinfo", "--list", "nbd+unix:///?socket=" + socket)).ok().stdout();
        assertThat(list).contains("export=\"one.qed\"").contains("export=\"vm/two.qed\"");
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 0x2f 0 64k", "nbd+unix:///vm/two.qed?socket=" + socket).ok();
        server.destroy();
        assertThat(server.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(server.exitValue()).as("stderr: %s", stderr()).isZero();
        QemuTools.qemuImg("check", root.resolve("vm/two.qed")).ok();
        QemuTools.qemuIo("-f", "qed", "-c", "read -P 0x2f 0 64k", root.resolve("vm/two.qed")).ok();
    }

    @Test
    void withoutPersistentItEndsWhenItsClientLeaves() throws Exception {
        Path image = dir.resolve("e.qed");
        QedImage.create(image, CreateOptions.ofSize(16L << 20));
        Path socket = dir.resolve("s.sock");
        Process server = serve("-k", socket.toString(), image.toString());
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 7 0 64k", "nbd+unix:///?socket=" + socket).ok();
        assertThat(server.waitFor(30, TimeUnit.SECONDS)).as("qed serve ends with its only client").isTrue();
        assertThat(server.exitValue()).as("stderr: %s", stderr()).isZero();
        QemuTools.qemuImg("check", image).ok();
        QemuTools.qemuIo("-f", "qed", "-c", "read -P 7 0 64k", image).ok();
    }

    /**
     * {@code --fork}, as {@code qemu-nbd --fork}: the command returns 0 once the server
     * listens (a script uses the socket on its next line), the server goes on in the
     * background until its client leaves, and a server that cannot start makes the command
     * fail in the foreground with its message and qemu-nbd's exit code.
     */
    @Test
    void forkReturnsOnceTheServerListensAndTheServerGoesOnWithoutIt() throws Exception {
        Path image = dir.resolve("f.qed");
        QedImage.create(image, CreateOptions.ofSize(16L << 20));
        Path socket = dir.resolve("f.sock");
        Path pidFile = dir.resolve("f.pid");
        QemuTools.Result forked = QemuTools.run(List.of(LAUNCHER, "serve", "--fork", "-k", socket.toString(),
                "--pid-file", pidFile.toString(), image.toString()));
        assertThat(forked.exitCode()).as("stderr: %s", forked.stderr()).isZero();
        assertThat(forked.stderr()).isEmpty();
        assertThat(socket).as("listening when the command returns").exists();
        long pid = Long.parseLong(Files.readString(pidFile).trim());
        ProcessHandle server = ProcessHandle.of(pid).orElseThrow(); // not this test's child: ended below
        try {
            assertThat(server.isAlive()).isTrue();
            QemuTools.qemuIo("-f", "raw", "-c", "write -P 9 0 64k", "nbd+unix:///?socket=" + socket).ok();
            assertThat(server.onExit().get(30, TimeUnit.SECONDS).isAlive())
                    .as("without -t the background server ends with its only client").isFalse();
        } finally {
            server.destroyForcibly();
        }
        QemuTools.qemuImg("check", image).ok();
        QemuTools.qemuIo("-f", "qed", "-c", "read -P 9 0 64k", image).ok();

        // The JVM's notice of JAVA_TOOL_OPTIONS comes before the ready line and is passed on,
        // but is not an error of the server's.
        Path noticed = dir.resolve("n.sock");
        ProcessBuilder withOptions = new ProcessBuilder(LAUNCHER, "serve", "--fork", "-t", "-k", noticed.toString(),
                "--pid-file", pidFile.toString(), image.toString())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(dir.resolve("n.err").toFile());
        withOptions.environment().put("JAVA_TOOL_OPTIONS", "-Dqedkit.test=1");
        Process notice = withOptions.start();
        assertThat(notice.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(notice.exitValue()).as(Files.readString(dir.resolve("n.err"))).isZero();
        assertThat(Files.readString(dir.resolve("n.err"))).contains("Picked up JAVA_TOOL_OPTIONS");
        ProcessHandle persistent = ProcessHandle.of(Long.parseLong(Files.readString(pidFile).trim())).orElseThrow();
        persistent.destroy(); // SIGTERM: a clean end
        assertThat(persistent.onExit().get(30, TimeUnit.SECONDS).isAlive()).isFalse();
        QemuTools.qemuImg("check", image).ok();

        Path missing = dir.resolve("missing.qed");
        QemuTools.Result qemu = QemuTools.run(List.of("qemu-nbd", "--fork", "-f", "qed", "-k",
                dir.resolve("q.sock").toString(), missing.toString()));
        QemuTools.Result qed = QemuTools.run(List.of(LAUNCHER, "serve", "--fork", "-k",
                dir.resolve("m.sock").toString(), missing.toString()));
        assertThat(qed.exitCode()).as("stderr: %s", qed.stderr()).isEqualTo(qemu.exitCode()).isEqualTo(1);
        assertThat(qed.stderr()).contains(missing.toString());
        assertThat(dir.resolve("m.sock")).doesNotExist();
    }
}
