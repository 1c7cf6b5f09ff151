package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Image names as QEMU writes and takes them: a path, file:PATH, json:{…}; and backing names of that kind. */
class QemuImageNameTest {
    @TempDir
    Path dir;

    @Test
    void aPlainNameIsItsPathAndFileDropsTheProtocol() {
        assertThat(QemuImageName.parse("a/b.qed")).isEqualTo(new QemuImageName(Path.of("a/b.qed"), null, true, true, List.of()));
        assertThat(QemuImageName.parse("file:x:y.qed").file()).isEqualTo(Path.of("./x:y.qed"));
        assertThat(QemuImageName.parse("/abs/c.qed").file()).isEqualTo(Path.of("/abs/c.qed"));
    }

    @Test
    void aJsonTreeOfFormatAndFileIsAPlainFileAgain() {
        QemuImageName n = QemuImageName.parse("json:{'driver':'qed','file':{'driver':'file','filename':'/t/a.qed'}}");
        assertThat(n).isEqualTo(new QemuImageName(Path.of("/t/a.qed"), "qed", true, true, List.of()));
        assertThat(QemuImageName.parse("json:{\"driver\": \"raw\", \"file\": \"/t/r.img\"}").format()).isEqualTo("raw");
        assertThat(QemuImageName.parse("json:{'driver':'qed','filename':'/t/b.qed'}").file()).isEqualTo(Path.of("/t/b.qed"));
    }

    @Test
    void blkdebugIsFollowedToItsImageAndItsErrorRulesAreKept() {
        QemuImageName n = QemuImageName.parse("json:{'driver': 'qed', 'file': { 'driver': 'blkdebug', "
                + "'inject-error': [{ 'event': 'write_aio', 'errno': 28, 'once': true }, {'event': 'read_aio', 'sector': 7}],"
                + " 'set-state': [{'event': 'read_aio', 'new_state': 42}],"
                + " 'image': { 'driver': 'file', 'filename': '/t/base.qed' }}}");
        assertThat(n.file()).isEqualTo(Path.of("/t/base.qed"));
        assertThat(n.reconstructable()).as("QEMU shows a json: name for a filter").isFalse();
        assertThat(n.directoryKnown()).isTrue();
        assertThat(n.injectedErrors()).containsExactly(
                new QemuImageName.InjectedError("write_aio", null, 28, true, -1),
                new QemuImageName.InjectedError("read_aio", null, 5, false, 7)); // QEMU's defaults: EIO, every time
    }

    @Test
    void aBlkdebugAboveTheFormatGivesTheFormatAndRulesByKindOfRequest() {
        // The shape of qemu-iotests 251: the filter over the qed layer, so that it sees
        // guest requests, block-status queries among them.
        QemuImageName n = QemuImageName.parse("json:{'driver': 'blkdebug', 'image': {'driver': 'qed',"
                + " 'file': {'driver': 'file', 'filename': '/t/a.qed'}}, 'inject-error': ["
                + "{'event': 'none', 'iotype': 'block-status', 'errno': 5, 'sector': 3},"
                + "{'event': 'none', 'sector': 8}]}");
        assertThat(n.file()).isEqualTo(Path.of("/t/a.qed"));
        assertThat(n.format()).isEqualTo("qed");
        QemuImageName.InjectedError status = n.injectedErrors().get(0);
        QemuImageName.InjectedError any = n.injectedErrors().get(1);
        assertThat(status.failsRequestsOf("block-status")).isTrue();
        assertThat(status.failsRequestsOf("read")).isFalse();
        assertThat(any.failsRequestsOf("read")).as("blkdebug's default set").isTrue();
        assertThat(any.failsRequestsOf("write")).isTrue();
        assertThat(any.failsRequestsOf("block-status")).as("not in blkdebug's default set").isFalse();
        assertThat(status.touches(3 * 512, 512)).isTrue();
        assertThat(status.touches(0, 3 * 512 + 1)).as("the sector's first byte is inside").isTrue();
        assertThat(status.touches(0, 3 * 512)).as("ends just before the sector").isFalse();
        assertThat(status.touches(3 * 512 + 1, 4096)).as("starts after the sector's first byte").isFalse();
        assertThatThrownBy(() -> QemuImageName.parse("json:{'driver':'qed','file':{'driver':'blkdebug',"
                + "'image':{'driver':'qed','file':'/t/a.qed'}}}"))
                .hasMessageContaining("'file.image.driver' is 'qed'");
    }

    @Test
    void aQuorumIsReadThroughItsFirstChildAndHasNoDirectory() {
        QemuImageName n = QemuImageName.parse("json:{'driver':'qed','file':{'driver':'quorum','vote-threshold':1,"
                + "'children':[{'driver':'file','filename':'/t/a.qed'},{'driver':'file','filename':'/t/a.copy'}]}}");
        assertThat(n.file()).isEqualTo(Path.of("/t/a.qed"));
        assertThat(n.directoryKnown()).isFalse();
        assertThat(n.reconstructable()).isFalse();
        // An object keyed 0, 1, … is a list, as QEMU reads a json: name (flattened to dotted keys first).
        assertThat(QemuImageName.parse("json:{'driver':'qed','file':{'driver':'quorum','children':"
                + "{'0':{'filename':'/t/a.qed'},'1':{'filename':'/t/a.copy'}}}}").file()).isEqualTo(Path.of("/t/a.qed"));
        assertThatThrownBy(() -> QemuImageName.parse("json:{'driver':'qed','file':{'driver':'quorum','children':"
                + "{'0':{'filename':'/t/a.qed'},'5':{'filename':'/t/a.copy'}}}}"))
                .as("indexes with a gap are no list").hasMessageContaining("must list the quorum's children");
    }

    @Test
    void whatCannotBeFollowedIsRefusedNamingTheKeyAndTheValue() {
        assertThatThrownBy(() -> QemuImageName.parse("json:{'driver':'qed','file':{'driver':'nbd','server':{}}}"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'file.driver' is 'nbd'");
        assertThatThrownBy(() -> QemuImageName.parse("json:{'driver':'qcow2','file':'a'}"))
                .hasMessageContaining("'driver' is 'qcow2'");
        assertThatThrownBy(() -> QemuImageName.parse("json:{'driver':'qed','file':{'driver':'blkdebug'}}"))
                .hasMessageContaining("A block device must be specified for \"file.image\"");
        assertThatThrownBy(() -> QemuImageName.parse("json:{'driver':'qed','file':{'driver':'file'}}"))
                .hasMessageContaining("'file.filename'");
        assertThatThrownBy(() -> QemuImageName.parse("json:{'driver':'qed'"))
                .hasMessageContaining("Could not parse JSON");
        // A hostile image's backing name nested 30,000 deep: an error, not a StackOverflowError.
        String deep = "json:" + "{'a':".repeat(30_000) + "1" + "}".repeat(30_000);
        assertThatThrownBy(() -> QemuImageName.parse(deep)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("nested deeper than 64");
        assertThatThrownBy(() -> QemuImageName.parse("json:{'file':{'driver':'blkdebug','image':'/a',"
                + "'inject-error':[{'event':'write_aio','errno':'many'}]}}"))
                .hasMessageContaining("'file.inject-error.0.errno' is 'many'");
    }

    @Test
    void dottedOptionsAreTheSameTreeAndJsonFlattensToThem() {
        Map<String, String> options = new LinkedHashMap<>();
        options.put("driver", "qed");
        options.put("file.driver", "blkdebug");
        options.put("file.image.filename", "/t/a.qed");
        assertThat(QemuImageName.fromOptions(options, "opts").file()).isEqualTo(Path.of("/t/a.qed"));
        Map<String, String> quorum = new LinkedHashMap<>();
        quorum.put("driver", "qed");
        quorum.put("file.driver", "quorum");
        quorum.put("file.children.0.filename", "/t/q0.qed");
        quorum.put("file.children.1.filename", "/t/q1.qed");
        QemuImageName q = QemuImageName.fromOptions(quorum, "opts");
        assertThat(q.file()).isEqualTo(Path.of("/t/q0.qed"));
        assertThat(q.directoryKnown()).isFalse();
        assertThat(QemuImageName.flatOptions("json:{'driver':'qed','file':{'driver':'quorum','children':"
                + "[{'filename':'/a'},{'filename':'/b'}]}}"))
                .containsEntry("file.children.1.filename", "/b").containsEntry("file.driver", "quorum");
    }

    @Test
    void blkdebugRulesGivenAsDottedOptionsAreTheRulesOfTheJsonTree() {
        String json = "json:{'driver':'qed','file':{'driver':'blkdebug','inject-error':["
                + "{'event':'none','iotype':'write','errno':28,'sector':8},{'event':'read_aio','once':true}],"
                + "'image':{'driver':'file','filename':'/t/a.qed'}}}";
        QemuImageName dotted = QemuImageName.fromOptions(QemuImageName.flatOptions(json), "opts");
        assertThat(dotted.injectedErrors()).isEqualTo(QemuImageName.parse(json).injectedErrors())
                .containsExactly(new QemuImageName.InjectedError("none", "write", 28, false, 8),
                        new QemuImageName.InjectedError("read_aio", null, 5, true, -1));
    }

    @Test
    void anImageWhoseBackingNameIsAJsonTreeOpensAndReadsThroughIt() throws IOException {
        Path base = dir.resolve("base.qed");
        QedImage.create(base, CreateOptions.ofSize(1 << 20));
        try (QedImage b = QedImage.open(base, OpenOptions.READ_WRITE)) {
            b.write(0, new byte[]{7, 7, 7});
        }
        Path top = dir.resolve("top.qed");
        String name = "json:{'driver': 'qed', 'file': {'driver': 'blkdebug', 'inject-error': [{'event': 'write_aio',"
                + " 'errno': 28}], 'image': {'driver': 'file', 'filename': '" + base + "'}}}";
        QedImage.create(top, CreateOptions.ofSize(1 << 20).withBackingFile(name, "qed"));
        try (QedImage t = QedImage.open(top, OpenOptions.READ_WRITE)) {
            byte[] back = new byte[3];
            t.read(0, back);
            assertThat(back).containsExactly(7, 7, 7);
        }
        assertThat(QedFiles.backingChain(top)).extracting(QedFiles.ChainLink::path).containsExactly(top, base);
        assertThat(QedFiles.backingChain(top)).as("each link keeps the name its parent stores, unresolved")
                .extracting(QedFiles.ChainLink::name).containsExactly(null, name);
    }

    @Test
    void aJsonBackingNameWithRulesForReadsIsRefusedNotIgnored() throws IOException {
        Path base = dir.resolve("base.qed");
        QedImage.create(base, CreateOptions.ofSize(1 << 20));
        Path top = dir.resolve("top.qed");
        String name = "json:{'driver': 'qed', 'file': {'driver': 'blkdebug', 'inject-error': [{'event': 'read_aio'}],"
                + " 'image': '" + base + "'}}";
        QedImage.create(top, CreateOptions.ofSize(1 << 20).withBackingFile(name, "qed"));
        assertThatThrownBy(() -> QedImage.open(top, OpenOptions.READ_ONLY))
                .isInstanceOf(QedFormatException.class)
                .hasMessageContaining("backing_filename").hasMessageContaining("'read_aio'");
    }
}
