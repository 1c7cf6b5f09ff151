package org.qedkit.nbd;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;
import org.qedkit.testing.QemuTools;

import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An export directory: every QED image under it is an export named by its relative path,
 * listed, opened on first use, and nothing outside it can be named or reached through a
 * backing file.
 */
class ExportDirectoryTest {
    @TempDir
    Path dir;

    @Test
    void imagesInsideTheFolderAreServedAndNothingOutsideItCanBeNamed() throws Exception {
        Path root = Files.createDirectory(dir.resolve("exports"));
        QedImage.create(root.resolve("a.qed"), CreateOptions.ofSize(8L << 20));
        Files.createDirectory(root.resolve("vm"));
        QedImage.create(root.resolve("vm/b.qed"), CreateOptions.ofSize(16L << 20));
        Files.writeString(root.resolve("notes.txt"), "not an image");
        QedImage.create(dir.resolve("outside.qed"), CreateOptions.ofSize(8L << 20));
        Files.createSymbolicLink(root.resolve("escape.qed"), dir.resolve("outside.qed"));
        // A backing file outside the folder: refused by the untrusted policy when opened.
        QedImage.create(root.resolve("leaky.qed"), CreateOptions.ofSize(8L << 20)
                .withBackingFile(dir.resolve("outside.qed").toString(), "qed"));

        Path socket = dir.resolve("d.sock");
        try (NbdServer server = NbdServer.builder().exportDirectory(root, OpenOptions.READ_WRITE, true)
                .listen(UnixDomainSocketAddress.of(socket)).build().start()) {
            try (NbdTestClient c = NbdTestClient.connect(UnixDomainSocketAddress.of(socket))) {
                List<String> names = c.option(NbdWire.OPT_LIST, new byte[0]).stream()
                        .filter(r -> r.type() == NbdWire.REP_SERVER)
                        .map(r -> new String(r.data(), 4, java.nio.ByteBuffer.wrap(r.data()).getInt(),
                                java.nio.charset.StandardCharsets.UTF_8))
                        .toList();
                assertThat(names).containsExactly("a.qed", "leaky.qed", "vm/b.qed");
                for (String hostile : List.of("../outside.qed", "/etc/passwd", "vm/../a.qed", "escape.qed",
                        "notes.txt", "", "vm", "missing.qed")) {
                    assertThat(c.option(NbdWire.OPT_GO, NbdTestClient.goData(hostile)).getLast().type())
                            .as("GO '%s'", hostile).isEqualTo(NbdWire.REP_ERR_UNKNOWN);
                }
                NbdTestClient.OptionReply leaky = c.option(NbdWire.OPT_GO, NbdTestClient.goData("leaky.qed")).getLast();
                assertThat(leaky.type()).isEqualTo(NbdWire.REP_ERR_UNKNOWN);
                assertThat(leaky.text()).as("the reason is given").contains("cannot be served");
                assertThat(c.option(NbdWire.OPT_GO, NbdTestClient.goData("vm/b.qed")).getLast().type()).isEqualTo(NbdWire.REP_ACK);
                assertThat(c.size()).isEqualTo(16L << 20);
            }
            String uri = "nbd+unix:///vm/b.qed?socket=" + socket;
            QemuTools.qemuIo("-f", "raw", "-c", "write -P 0x3c 0 64k", "-c", "flush", uri).ok();
            QemuTools.qemuIo("-f", "raw", "-c", "read -P 0x3c 0 64k", uri).ok();
        }
        // Closed with the server: unlocked and clean.
        QemuTools.qemuImg("check", root.resolve("vm/b.qed")).ok();
        QemuTools.qemuIo("-f", "qed", "-c", "read -P 0x3c 0 64k", root.resolve("vm/b.qed")).ok();
    }
}
