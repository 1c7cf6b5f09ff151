package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Java sample in README.md is this class's {@link #demo} method, word for word: the
 * test fails when the two drift apart, and running it proves the sample works.
 */
class ReadmeExampleTest {
    @TempDir
    Path dir;

    // README:begin
    static byte[] demo(Path path) throws IOException {
        QedImage.create(path, CreateOptions.ofSize(1L << 30));        // 1 GiB, QEMU's defaults
        try (QedImage image = QedImage.open(path, OpenOptions.READ_WRITE)) {
            byte[] hello = "hello, QED".getBytes(StandardCharsets.US_ASCII);
            image.write(4096, hello);                                  // any offset and length
            image.writeZeroes(1L << 20, 1L << 20);                     // whole clusters: zero entries
            image.flush();                                             // durable from here on
            byte[] back = new byte[hello.length];
            image.read(4096, back);                                    // lock-free, one copy
            return back;
        }
    }
    // README:end

    @Test
    void theReadmeSampleIsThisCodeAndItWorks() throws IOException {
        assertThat(demo(dir.resolve("demo.qed"))).asString(StandardCharsets.US_ASCII).isEqualTo("hello, QED");

        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher block = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertThat(block.find()).as("README.md has a ```java block").isTrue();
        String source = Files.readString(Path.of("src/test/java/org/qedkit/ReadmeExampleTest.java"));
        String here = source.substring(source.indexOf("// README:begin") + "// README:begin".length(),
                source.indexOf("    // README:end"));
        assertThat(normalized(block.group(1))).isEqualTo(normalized(here));
    }

    private static List<String> normalized(String code) {
        return code.lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    }
}
