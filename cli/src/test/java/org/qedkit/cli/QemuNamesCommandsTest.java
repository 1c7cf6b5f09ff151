package org.qedkit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.CreateOptions;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The tools with image names QEMU's own tests use (qemu-iotests 020 and 110): json: trees
 * with blkdebug and quorum in them, and commit's base named as QEMU matches it.
 */
class QemuNamesCommandsTest {
    @TempDir
    Path dir;

    private Path image(String name, String backing) throws IOException {
        Path p = dir.resolve(name);
        CreateOptions o = CreateOptions.ofSize(1 << 20);
        QedImage.create(p, backing == null ? o : o.withBackingFile(backing, "qed"));
        return p;
    }

    private static void write(Path p, long offset, int value) throws IOException {
        try (QedImage i = QedImage.open(p, OpenOptions.READ_WRITE)) {
            i.write(offset, new byte[]{(byte) value});
        }
    }

    private static int read(Path p, long offset) throws IOException {
        try (QedImage i = QedImage.open(p, OpenOptions.READ_ONLY)) {
            byte[] b = new byte[1];
            i.read(offset, b);
            return b[0];
        }
    }

    @Test
    void createPrintsAJsonBackingNameWithItsCommasDoubledAsQemuPrintsOptionValues() throws IOException {
        Path base = image("base.qed", null);
        String name = "json:{'driver': 'qed', 'file': {'driver': 'file', 'filename': '" + base + "'}}";
        QedRun run = QedRun.of("create", "-f", "qed", "-b", name, "-F", "qed", dir.resolve("t.qed"));
        assertThat(run.exitCode()).as(run.stderr()).isZero();
        assertThat(run.stdout()).contains("backing_file=json:{'driver': 'qed',, 'file': {'driver': 'file',, 'filename': '"
                + base + "'}} backing_fmt=qed");
    }

    @Test
    void commitIntoABaseWhoseNameInjectsAWriteErrorFailsAsQemusBlockJobDoes() throws IOException {
        Path base = image("base.qed", null);
        String name = "json:{'driver': 'qed', 'file': {'driver': 'blkdebug', 'inject-error': [{'event': 'write_aio',"
                + " 'errno': 28, 'once': true}], 'image': {'driver': 'file', 'filename': '" + base + "'}}}";
        Path top = image("t.qed", name);
        write(top, 0, 9);
        QedRun run = QedRun.of("commit", top);
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.stderr()).startsWith("qemu-img: Block job failed: No space left on device\n");
        assertThat(read(base, 0)).as("nothing reached the base").isZero();
    }

    @Test
    void withoutRulesTheSameJsonBaseTakesTheCommit() throws IOException {
        Path base = image("base.qed", null);
        Path top = image("t.qed", "json:{'driver': 'qed', 'file': {'driver': 'blkdebug', 'image': '" + base + "'}}");
        write(top, 0, 9);
        QedRun run = QedRun.of("commit", top);
        assertThat(run.exitCode()).as(run.stderr()).isZero();
        assertThat(read(base, 0)).isEqualTo(9);
    }

    @Test
    void commitsBaseNameIsRelativeToTheImageThatNamesItNotToTheWorkingDirectory() throws IOException {
        Files.createDirectory(dir.resolve("sub"));
        image("sub/t.base", null);
        Path mid = image("sub/t.mid", "t.base");
        Path top = image("sub/t.qed", "t.mid");
        write(top, 0, 5);
        // As qemu-iotests 020: "t.mid" is found (relative to sub/), "sub/t.mid" is not.
        QedRun wrong = QedRun.of("commit", "-b", "sub/t.mid", top);
        assertThat(wrong.exitCode()).isEqualTo(1);
        assertThat(wrong.stderr()).isEqualTo("qemu-img: Did not find 'sub/t.mid' in the backing chain of '" + top + "'\n");
        QedRun right = QedRun.of("commit", "-b", "t.mid", top);
        assertThat(right.exitCode()).as(right.stderr()).isZero();
        assertThat(right.stdout()).isEqualTo("Image committed.\n");
        assertThat(read(mid, 0)).isEqualTo(5);
    }

    @Test
    void infoShowsAFilteredNameAsGivenAndUnderAQuorumCannotTellTheBackingPath() throws IOException {
        image("t.base", null);
        Path top = image("t.qed", "t.base");
        Files.copy(top, dir.resolve("t.copy"));
        String blkdebug = "json:{'driver': 'qed', 'file': {'driver': 'blkdebug', 'set-state': [{'event': 'read_aio',"
                + " 'new_state': 42}], 'image': {'driver': 'file', 'filename': '" + top + "'}}}";
        QedRun one = QedRun.of("info", blkdebug);
        assertThat(one.exitCode()).as(one.stderr()).isZero();
        assertThat(one.stdout()).startsWith("image: " + blkdebug + "\n")
                .contains("backing file: t.base (actual path: " + dir.resolve("t.base") + ")");
        String quorum = "json:{'driver': 'qed', 'file': {'driver': 'quorum', 'vote-threshold': 1, 'children': ["
                + "{'driver': 'file', 'filename': '" + top + "'}, {'driver': 'file', 'filename': '" + dir.resolve("t.copy") + "'}]}}";
        QedRun two = QedRun.of("info", quorum);
        assertThat(two.exitCode()).as(two.stderr()).isZero();
        assertThat(two.stdout()).startsWith("image: " + quorum + "\n")
                .contains("backing file: t.base (cannot determine actual path)\n");
    }
}
