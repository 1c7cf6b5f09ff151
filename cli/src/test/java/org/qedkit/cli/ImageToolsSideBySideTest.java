package org.qedkit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.qedkit.testing.QemuTools;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The image tools ({@code map}, {@code convert}, {@code resize}, {@code rebase},
 * {@code commit}, {@code measure}) against {@code qemu-img} on the same inputs: the same
 * output where the format is shared, the same exit codes, the same guest content
 * ({@code qemu-img compare}) where they change images.
 */
class ImageToolsSideBySideTest {
    @TempDir
    Path dir;

    /**
     * A chain of three: a sparse raw base shorter than the rest, a QED image over it with
     * data, a zero-written cluster and its own shorter size, and a QED overlay on top.
     */
    private Path chain() throws IOException {
        Path base = dir.resolve("base.raw");
        QemuTools.qemuImg("create", "-q", "-f", "raw", base, "2M").ok();
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 7 512k 64k", "-c", "write -P 6 1536k 4k", base).ok();
        Path mid = dir.resolve("mid.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-b", base, "-F", "raw", mid, "6M").ok();
        QemuTools.qemuIo("-c", "write -P 8 0 64k", "-c", "write -z 1M 64k", "-c", "write -P 5 3M 8k", mid).ok();
        Path top = dir.resolve("top.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-b", mid, "-F", "qed", top, "8M").ok();
        QemuTools.qemuIo("-c", "write -P 9 64k 64k", "-c", "write -z 512k 64k", "-c", "write -P 4 7M 1k", top).ok();
        return top;
    }

    @Test
    void mapPrintsQemuImgsRangesInBothFormatsThroughTheWholeChain() throws IOException {
        Path top = chain();
        for (Path image : List.of(top, dir.resolve("mid.qed"))) {
            for (List<String> options : List.of(List.of("--output=json"), List.of("--output=human"),
                    List.of("--output=json", "-s", "100k", "-l", "3M"), List.of("-l", "1M"))) {
                QemuTools.Result qemu = QemuTools.qemuImg(concat("map", options, image).toArray()).ok();
                QedRun qed = QedRun.of(concat("map", options, image).toArray());
                assertThat(qed.exitCode()).as("%s %s", options, qed.stderr()).isZero();
                assertThat(qed.stdout()).as("qed map %s %s", options, image).isEqualTo(qemu.stdout());
            }
        }
        QemuTools.Result qemu = QemuTools.qemuImg("map", dir.resolve("missing.qed"));
        assertThat(QedRun.of("map", dir.resolve("missing.qed")).exitCode()).isEqualTo(qemu.exitCode()).isEqualTo(1);
    }

    @Test
    void convertGivesTheSameGuestContentAndAllocationAsQemuImgConvert() throws IOException {
        Path top = chain();
        List<List<String>> cases = List.of(List.of("-O", "qed"), List.of("-O", "raw"),
                List.of("-O", "qed", "-o", "cluster_size=4096,table_size=2"), List.of("-O", "qed", "-o", "cluster_size=1M"),
                List.of("-O", "qed", "-B", dir.resolve("mid.qed").toString(), "-F", "qed"), List.of("-O", "qed", "-S", "0"));
        int n = 0;
        for (List<String> options : cases) {
            Path byQemu = dir.resolve("qemu-" + n + ".img");
            Path byQed = dir.resolve("qed-" + n++ + ".img");
            QemuTools.qemuImg(concat("convert", options, top, byQemu).toArray()).ok();
            QedRun qed = QedRun.of(concat("convert", options, top, byQed).toArray());
            assertThat(qed.exitCode()).as("%s: %s", options, qed.stderr()).isZero();
            QemuTools.qemuImg("compare", top, byQed).ok();
            String format = options.contains("raw") ? "raw" : "qed";
            assertThat(allocation(byQed, format)).as("allocation after convert %s", options)
                    .isEqualTo(allocation(byQemu, format));
            if (format.equals("qed")) {
                QemuTools.qemuImg("check", byQed).ok();
            }
        }
    }

    @Test
    void convertFromRawDropsZeroBlocksAndShowsProgress() throws IOException {
        Path raw = dir.resolve("disk.raw");
        byte[] content = new byte[3 << 20];
        java.util.Arrays.fill(content, 70_000, 200_000, (byte) 3); // data, then zeros written as data
        content[(2 << 20) + 5] = 1;
        java.nio.file.Files.write(raw, content);
        Path byQemu = dir.resolve("from-raw-qemu.qed");
        Path byQed = dir.resolve("from-raw-qed.qed");
        QemuTools.qemuImg("convert", "-f", "raw", "-O", "qed", raw, byQemu).ok();
        QedRun qed = QedRun.of("convert", "-p", "-f", "raw", "-O", "qed", raw, byQed);
        assertThat(qed.exitCode()).as(qed.stderr()).isZero();
        assertThat(qed.stdout()).startsWith("    (0.00/100%)\r").endsWith("    (100.00/100%)\r" + System.lineSeparator());
        QemuTools.qemuImg("compare", "-f", "raw", "-F", "qed", raw, byQed).ok();
        assertThat(allocation(byQed, "qed")).isEqualTo(allocation(byQemu, "qed"));
    }

    /**
     * qemu-iotests 251's shape, small: a blkdebug filter over the source fails block-status
     * queries and reads at given sectors. Both tools must warn the same lines in the same
     * order (a sizing pass, then the copy; status before data at each offset), fail where
     * qemu-img fails without {@code --salvage}, and write the same image: unreadable
     * sectors as zeros, sectors of unknown status copied as data.
     */
    @Test
    void convertSalvageWarnsAndFailsAsQemuImgDoesUnderInjectedErrors() throws IOException {
        Path source = dir.resolve("src.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", source, "8M").ok();
        QemuTools.qemuIo("-c", "write -P 7 0 3M", "-c", "write -P 8 4M 4M", source).ok();
        String statusAt1M = "{'event':'none','iotype':'block-status','sector':2050}";
        String readAt1M = "{'event':'none','iotype':'read','sector':2050}";
        String readAt2M = "{'event':'none','iotype':'read','sector':4000}";
        String twoReadsAt4M = "{'event':'none','iotype':'read','sector':9000},{'event':'none','sector':9001}";
        String statusOnceAt5M = "{'event':'none','iotype':'block-status','sector':10240,'once':true}";
        List<String> ruleSets = List.of(String.join(",", statusAt1M, readAt2M, readAt1M, twoReadsAt4M),
                readAt2M, statusOnceAt5M, String.join(",", statusOnceAt5M, statusAt1M));
        int n = 0;
        for (String rules : ruleSets) {
            String name = "json:{'driver':'blkdebug','image':{'driver':'qed','file':{'driver':'file','filename':'"
                    + source + "'}},'inject-error':[" + rules + "]}";
            for (List<String> salvage : List.of(List.of("--salvage"), List.<String>of())) {
                Path byQemu = dir.resolve("salvaged-qemu-" + n + ".qed");
                Path byQed = dir.resolve("salvaged-qed-" + n++ + ".qed");
                QemuTools.Result qemu = QemuTools.qemuImg(concat("convert", salvage, name, byQemu, "-O", "qed").toArray());
                QedRun qed = QedRun.of(concat("convert", salvage, name, byQed, "-O", "qed").toArray());
                assertThat(qed.exitCode()).as("%s %s: %s", rules, salvage, qed.stderr()).isEqualTo(qemu.exitCode());
                // The same warnings; in the same order only within one copied chunk: qemu-img's
                // eight coroutines retry the sectors of different chunks side by side, and the
                // order between chunks is its scheduler's, which qed (one sequential copy, in
                // offset order) does not imitate. qemu-iotests 251 checks a case where the two
                // agree.
                assertThat(qed.stderr().lines()).as("%s %s", rules, salvage)
                        .containsExactlyInAnyOrderElementsOf(qemu.stderr().lines().toList());
                if (qemu.exitCode() == 0) {
                    QemuTools.qemuImg("compare", byQemu, byQed).ok();
                    QemuTools.qemuImg("check", byQed).ok();
                }
            }
        }
    }

    @Test
    void convertOfAMissingSourceFailsAsQemuImgDoes() {
        Path missing = dir.resolve("missing.qed");
        QemuTools.Result qemu = QemuTools.qemuImg("convert", "-O", "qed", missing, dir.resolve("x.qed"));
        QedRun qed = QedRun.of("convert", "-O", "qed", missing, dir.resolve("y.qed"));
        assertThat(qed.exitCode()).isEqualTo(qemu.exitCode()).isEqualTo(1);
        assertThat(qed.stderr()).contains("Could not open '" + missing + "'");
    }

    @Test
    void resizeGrowsAsQemuImgResizeAndRefusesWhatItRefuses() throws IOException {
        Path byQemu = dir.resolve("grow-qemu.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", byQemu, "8M").ok();
        QemuTools.qemuIo("-c", "write -P 1 1M 64k", byQemu).ok();
        Path byQed = java.nio.file.Files.copy(byQemu, dir.resolve("grow-qed.qed"));
        for (List<String> args : List.of(List.of("+8M"), List.of("64T"), List.of("4M"), List.of("65T"),
                List.of("16777217"), List.of("--", "-1M"), List.of("-1M"), List.of("+abc"))) {
            QemuTools.Result qemu = QemuTools.qemuImg(concat("resize", List.of(byQemu.toString()), args.toArray()).toArray());
            QedRun qed = QedRun.of(concat("resize", List.of(byQed.toString()), args.toArray()).toArray());
            assertThat(qed.exitCode()).as("resize %s: %s", args, qed.stderr()).isEqualTo(qemu.exitCode());
            assertThat(qed.stdout()).as("resize %s", args).isEqualTo(qemu.stdout());
            String firstWords = qemu.stderr().lines().filter(l -> !l.contains("warning")).findFirst().orElse("")
                    ;
            firstWords = firstWords.length() > 30 ? firstWords.substring(0, 30) : firstWords;
            assertThat(qed.stderr()).as("resize %s", args).startsWith(firstWords);
            QemuTools.qemuImg("compare", byQemu, byQed).ok();
            assertThat(QedRun.of("info", "--output=json", byQed).stdout())
                    .contains(QemuTools.qemuImg("info", byQemu).ok().stdout().lines()
                            .filter(l -> l.startsWith("virtual size")).findFirst().orElseThrow()
                            .replaceAll(".*\\((\\d+) bytes\\)", "\"virtual-size\": $1"));
        }
        QemuTools.qemuImg("check", byQed).ok();
    }

    /** QEMU cannot shrink a QED image; qed can, and QEMU then finds the result clean. */
    @Test
    void resizeShrinksWhatQemuCannotAndQemuAgreesWithTheResult() throws IOException {
        Path image = dir.resolve("shrink.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-o", "cluster_size=4096,table_size=2", image, "64M").ok();
        QemuTools.qemuIo("-c", "write -P 1 0 100k", "-c", "write -P 2 40M 4k", "-c", "write -z 20M 4k", image).ok();
        QemuTools.Result qemu = QemuTools.qemuImg("resize", "--shrink", image, "32M");
        assertThat(qemu.exitCode()).isEqualTo(1);
        assertThat(qemu.stderr()).contains("Shrinking images is currently not supported");

        QedRun refused = QedRun.of("resize", "--shrink", image, "32M"); // data at 40M
        assertThat(refused.exitCode()).isEqualTo(1);
        assertThat(refused.stderr()).contains("1 cluster(s) of data lie past 33554432 bytes").contains("--force");
        assertThat(QedRun.of("resize", "--shrink", image, "48M").exitCode()).isZero(); // only unallocated past 48M
        assertThat(QedRun.of("resize", "--shrink", "--force", image, "40000k").exitCode()).isZero();
        assertThat(QedRun.of("resize", image, "64M").exitCode()).isZero();

        QemuTools.qemuImg("check", image).ok();
        Path expected = dir.resolve("expected.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", expected, "64M").ok();
        QemuTools.qemuIo("-c", "write -P 1 0 100k", expected).ok();
        QemuTools.qemuImg("compare", expected, image).ok(); // the data past 40000k is gone for good
    }

    @Test
    void rebaseKeepsTheGuestContentAsQemuImgRebaseDoes() throws IOException {
        Path base = dir.resolve("old.raw");
        QemuTools.qemuImg("create", "-q", "-f", "raw", base, "4M").ok();
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 1 0 1M", "-c", "write -P 3 3M 4k", base).ok();
        Path other = dir.resolve("new.raw");
        QemuTools.qemuImg("create", "-q", "-f", "raw", other, "2M").ok(); // shorter: zeros past its end
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 1 0 128k", "-c", "write -P 9 1M 64k", other).ok();
        for (List<String> args : List.of(List.of("-b", "new.raw", "-F", "raw"), List.of("-b", ""),
                List.of("-u", "-b", "new.raw", "-F", "raw"))) {
            Path byQemu = dir.resolve("rebase-qemu.qed");
            QemuTools.qemuImg("create", "-q", "-f", "qed", "-o", "cluster_size=4096", "-b", base, "-F", "raw",
                    byQemu, "6M").ok();
            QemuTools.qemuIo("-c", "write -P 5 2M 4k", "-c", "write -z 64k 4k", byQemu).ok();
            Path byQed = java.nio.file.Files.copy(byQemu, dir.resolve("rebase-qed.qed"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Path original = java.nio.file.Files.copy(byQemu, dir.resolve("original.qed"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            QemuTools.Result qemu = QemuTools.qemuImg(concat("rebase", args, byQemu).toArray());
            QedRun qed = QedRun.of(concat("rebase", args, byQed).toArray());
            assertThat(qed.exitCode()).as("rebase %s: %s", args, qed.stderr()).isEqualTo(qemu.exitCode()).isZero();
            assertThat(qed.stdout()).isEqualTo(qemu.stdout());
            QemuTools.qemuImg("compare", byQemu, byQed).ok();
            if (!args.contains("-u")) {
                QemuTools.qemuImg("compare", original, byQed).ok(); // the guest saw no change
            }
            assertThat(allocation(byQed, "qed")).isEqualTo(allocation(byQemu, "qed"));
            // The same header, backing name and format included (disk use may differ).
            assertThat(QemuTools.qemuImg("info", byQed).ok().stdout().replaceAll("(?m)^disk size.*\\n", ""))
                    .isEqualTo(QemuTools.qemuImg("info", byQemu).ok().stdout().replace("rebase-qemu", "rebase-qed")
                            .replaceAll("(?m)^disk size.*\\n", ""));
            QemuTools.qemuImg("check", byQed).ok();
        }
    }

    @Test
    void commitWritesTheBaseAsQemuImgCommitAndEmptiesTheImageOnRequest() throws IOException {
        for (String baseFormat : List.of("raw", "qed")) {
            Path[] bases = new Path[2];
            Path[] tops = new Path[2];
            for (int i = 0; i < 2; i++) {
                bases[i] = dir.resolve("base" + i + "." + baseFormat);
                QemuTools.qemuImg("create", "-q", "-f", baseFormat, bases[i], "4M").ok();
                QemuTools.qemuIo("-f", baseFormat, "-c", "write -P 1 0 1M", bases[i]).ok();
                tops[i] = dir.resolve("top" + i + ".qed");
                QemuTools.qemuImg("create", "-q", "-f", "qed", "-b", bases[i], "-F", baseFormat, tops[i], "6M").ok();
                QemuTools.qemuIo("-c", "write -P 2 64k 64k", "-c", "write -z 256k 64k", "-c", "write -P 4 5M 4k", tops[i]).ok();
            }
            QemuTools.Result qemu = QemuTools.qemuImg("commit", tops[0]);
            QedRun qed = QedRun.of("commit", tops[1]);
            assertThat(qed.exitCode()).as(qed.stderr()).isEqualTo(qemu.exitCode()).isZero();
            assertThat(qed.stdout()).isEqualTo(qemu.stdout()).isEqualTo("Image committed.\n");
            QemuTools.qemuImg("compare", "-f", baseFormat, "-F", baseFormat, bases[0], bases[1]).ok();
            QemuTools.qemuImg("compare", tops[0], tops[1]).ok();
            assertThat(allocation(tops[1], "qed")).isEqualTo(allocation(tops[0], "qed")); // QEMU keeps the clusters

            QedRun emptied = QedRun.of("commit", "--empty", tops[1]);
            assertThat(emptied.exitCode()).as(emptied.stderr()).isZero();
            assertThat(allocation(tops[1], "qed")).noneMatch(range -> range.contains("\"depth\": 0, \"present\": true"));
            QemuTools.qemuImg("compare", tops[0], tops[1]).ok(); // same guest content, now all from the base
            QemuTools.qemuImg("check", tops[1]).ok();
        }
        QemuTools.Result qemu = QemuTools.qemuImg("commit", dir.resolve("base0.qed"));
        QedRun qed = QedRun.of("commit", dir.resolve("base1.qed"));
        assertThat(qed.exitCode()).isEqualTo(qemu.exitCode()).isEqualTo(1);
    }

    @Test
    void measurePrintsWhatQemuImgMeasuresForRawAndTheTrueSizesForQed() throws IOException {
        Path top = chain();
        for (List<String> args : List.of(List.of("-O", "raw", "--size", "1G"), List.of("-O", "raw", top.toString()),
                List.of("--output=json", "-O", "raw", top.toString()), List.of("-O", "raw"),
                List.of("-O", "raw", top.toString(), "--size", "1G"))) {
            QemuTools.Result qemu = QemuTools.qemuImg(concat("measure", args).toArray());
            QedRun qed = QedRun.of(concat("measure", args).toArray());
            assertThat(qed.exitCode()).as("measure %s", args).isEqualTo(qemu.exitCode());
            assertThat(qed.stdout()).as("measure %s", args).isEqualTo(qemu.stdout());
            assertThat(qed.stderr()).isEqualTo(qemu.stderr());
        }
        // QED: QEMU cannot measure it; the figures are the sizes convert then produces.
        assertThat(QemuTools.qemuImg("measure", "-O", "qed", "--size", "1G").exitCode()).isEqualTo(1);
        for (String geometry : List.of("cluster_size=65536", "cluster_size=4096,table_size=2")) {
            String json = QedRun.of("measure", "-O", "qed", "-o", geometry, "--output=json", top).stdout();
            String[] figures = json.replaceAll("[^0-9,]", "").split(",");
            long required = Long.parseLong(figures[0]);
            long fully = Long.parseLong(figures[1]);
            Path sparse = dir.resolve("measured-" + geometry.length() + ".qed");
            Path full = dir.resolve("measured-full-" + geometry.length() + ".qed");
            assertThat(QedRun.of("convert", "-O", "qed", "-o", geometry, top, sparse).exitCode()).isZero();
            assertThat(QedRun.of("convert", "-S", "0", "-O", "qed", "-o", geometry, top, full).exitCode()).isZero();
            // Required is an upper bound: convert may still skip all-zero blocks inside the
            // source's data clusters (with the source's own cluster size there are none here).
            assertThat(java.nio.file.Files.size(sparse)).as("%s: required %d", geometry, required)
                    .isLessThanOrEqualTo(required);
            if (geometry.equals("cluster_size=65536")) {
                assertThat(java.nio.file.Files.size(sparse)).isEqualTo(required);
            }
            assertThat(java.nio.file.Files.size(full)).as("%s: fully allocated", geometry).isEqualTo(fully);
        }
        Path empty = dir.resolve("empty.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", empty, "1G").ok();
        assertThat(QedRun.of("measure", "-O", "qed", "--size", "1G").stdout())
                .startsWith("required size: " + java.nio.file.Files.size(empty) + "\n");
    }

    @Test
    void copyOnReadPopulatesTheSameClustersAsQemuIoDashC() throws IOException {
        Path top = chain();
        Path byQemu = dir.resolve("cor-qemu.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", "-b", top, "-F", "qed", byQemu).ok();
        Path byQed = java.nio.file.Files.copy(byQemu, dir.resolve("cor-qed.qed"));
        List<String> script = List.of("-c", "read 0 100k", "-c", "read 500k 200k", "-c", "read 3M 4k", "-c", "read 7M 64k");
        QemuTools.qemuIo(concat("-C", script, byQemu).toArray()).ok();
        QedRun qed = QedRun.of(concat("io", List.of("-C"), concat("-c", script.subList(1, script.size()), byQed).toArray()).toArray());
        assertThat(qed.exitCode()).as(qed.stderr()).isZero();
        assertThat(allocation(byQed, "qed")).isEqualTo(allocation(byQemu, "qed"));
        QemuTools.qemuImg("compare", byQemu, byQed).ok();
        QemuTools.qemuImg("check", byQed).ok();
    }

    @Test
    void benchTakesQemuImgBenchsOptionsAndPrintsItsLinesAndWritesTheSameBytes() throws IOException {
        Path byQemu = dir.resolve("bench-qemu.qed");
        QemuTools.qemuImg("create", "-q", "-f", "qed", byQemu, "64M").ok();
        Path byQed = java.nio.file.Files.copy(byQemu, dir.resolve("bench-qed.qed"));
        java.util.regex.Pattern timing = java.util.regex.Pattern.compile("(?m)^Run completed in \\d+\\.\\d{3} seconds\\.$");
        for (List<String> args : List.of(
                List.of("-c", "300", "-d", "8", "-w", "-S", "65536", "-t", "writethrough", "--pattern", "7"),
                List.of("-c", "200", "-d", "4", "-w", "-s", "8k", "-o", "1M", "--flush-interval", "16", "--pattern", "9"),
                List.of("-c", "5000", "-d", "1", "-S", "12k"),
                List.of("-c", "10", "-w", "--flush-interval", "4"))) {
            QemuTools.Result qemu = QemuTools.qemuImg(concat("bench", args, byQemu).toArray());
            QedRun qed = QedRun.of(concat("bench", args, byQed).toArray());
            assertThat(qed.exitCode()).as("bench %s: %s", args, qed.stderr()).isEqualTo(qemu.exitCode());
            if (qemu.exitCode() == 0) {
                assertThat(timing.matcher(qed.stdout()).find()).as(qed.stdout()).isTrue();
                assertThat(timing.matcher(qed.stdout()).replaceAll(""))
                        .isEqualTo(timing.matcher(qemu.stdout()).replaceAll(""));
            } else {
                assertThat(qed.stderr()).isEqualTo(qemu.stderr());
            }
        }
        QemuTools.qemuImg("compare", byQemu, byQed).ok(); // the writes put the same bytes in the same places
        QemuTools.qemuImg("check", byQed).ok();
    }

    /**
     * qemu-img map's JSON without file offsets, neighbours merged again: which guest ranges
     * are data, zeros or absent, and at which depth, whatever the layout in the file.
     */
    private static List<String> allocation(Path image, String format) {
        String json = QemuTools.qemuImg("map", "--output=json", "-f", format, image).ok().stdout();
        List<String> ranges = new java.util.ArrayList<>();
        long start = -1;
        long end = -1;
        String state = null;
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                "\\{ \"start\": (\\d+), \"length\": (\\d+), (\"depth\".*?\"data\": \\w+)").matcher(json);
        while (m.find()) {
            long s = Long.parseLong(m.group(1));
            long l = Long.parseLong(m.group(2));
            if (m.group(3).equals(state) && s == end) {
                end += l;
                continue;
            }
            if (state != null) {
                ranges.add(start + "+" + (end - start) + " " + state);
            }
            start = s;
            end = s + l;
            state = m.group(3);
        }
        ranges.add(start + "+" + (end - start) + " " + state);
        return ranges;
    }

    static List<Object> concat(String command, List<String> options, Object... rest) {
        List<Object> all = new java.util.ArrayList<>();
        all.add(command);
        all.addAll(options);
        all.addAll(List.of(rest));
        return all;
    }
}
