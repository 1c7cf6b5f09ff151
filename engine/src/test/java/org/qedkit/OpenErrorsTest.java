package org.qedkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What an open that cannot succeed says: in the user's terms, not the JDK's or the kernel's. */
class OpenErrorsTest {
    @TempDir
    Path dir;

    @Test
    void aDirectoryIsNamedAsOne() throws IOException {
        Path folder = Files.createDirectory(dir.resolve("not-an-image"));
        for (OpenOptions options : new OpenOptions[]{OpenOptions.READ_ONLY, OpenOptions.READ_WRITE}) {
            assertThatThrownBy(() -> QedImage.open(folder, options)).isInstanceOfSatisfying(QedIoException.class,
                    e -> assertThat(e.errno()).isEqualTo(21)).hasMessageContaining("Is a directory")
                    .hasMessageNotContaining("No such device");
        }
    }

    @Test
    void aSecondOpenInTheSameProcessIsNotBlamedOnAnotherProcessAlone() throws IOException {
        Path p = dir.resolve("twice.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20));
        try (QedImage first = QedImage.open(p)) {
            assertThatThrownBy(() -> QedImage.open(p)).isInstanceOf(QedLockedException.class)
                    .hasMessageContaining("or another open of it in this one");
        }
    }
}
