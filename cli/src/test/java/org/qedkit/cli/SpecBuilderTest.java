package org.qedkit.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

import java.io.InputStream;
import java.lang.annotation.Annotation;
import java.lang.reflect.Field;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** How a command declared with {@link SpecBuilder} parses: as picocli parses the annotated equivalent. */
class SpecBuilderTest {

    /** A command of every shape the qed commands use. */
    static final class Sample implements Callable<Integer> {
        boolean flag;
        String text = "initial";
        String withDefault;
        List<String> repeated = new ArrayList<>();
        Integer number;
        Path path;
        String file;
        List<String> operands;

        CommandSpec declare(String fileArity) {
            SpecBuilder b = SpecBuilder.command("sample", this, "A sample.");
            b.option("-x --flag").describe("A flag.").flag(() -> flag, v -> flag = v);
            b.option("-t").label("TEXT").text(() -> text, v -> text = v);
            b.option("--mode").label("MODE").defaultValue("writeback").text(() -> withDefault, v -> withDefault = v);
            b.option("-c").label("CMD").list(() -> repeated, v -> repeated = v);
            b.option("-n").label("N").typed(Integer.class, () -> number, v -> number = v);
            b.option("--hidden-path").label("P").hidden().typed(Path.class, () -> path, v -> path = v);
            b.positional("0").label("FILE").arity(fileArity).text(() -> file, v -> file = v);
            return b.spec();
        }

        @Override
        public Integer call() {
            return 0;
        }
    }

    private static Sample parse(String fileArity, String... args) {
        Sample sample = new Sample();
        new CommandLine(sample.declare(fileArity)).setOverwrittenOptionsAllowed(true).parseArgs(args);
        return sample;
    }

    @Test
    void givenValuesLandInTheFieldsAndAnOptionNotGivenKeepsItsInitialValueOrItsDefault() {
        Sample given = parse(null, "-x", "-t", "hello", "--mode", "none", "-n", "42", "--hidden-path", "/a/b", "img");
        assertThat(given.flag).isTrue();
        assertThat(given.text).isEqualTo("hello");
        assertThat(given.withDefault).isEqualTo("none");
        assertThat(given.number).isEqualTo(42);
        assertThat(given.path).isEqualTo(Path.of("/a/b"));
        assertThat(given.file).isEqualTo("img");

        Sample bare = parse(null, "img");
        assertThat(bare.flag).isFalse();
        assertThat(bare.text).isEqualTo("initial");
        assertThat(bare.withDefault).isEqualTo("writeback");
        assertThat(bare.repeated).isEmpty();
        assertThat(bare.number).isNull();
    }

    @Test
    void aRepeatedListOptionCollectsEveryValueInOrderAndARepeatedSingleOptionTakesTheLast() {
        Sample sample = parse(null, "-c", "read 0 4k", "-t", "a", "-c", "write 0 4k", "-t", "b", "img");
        assertThat(sample.repeated).containsExactly("read 0 4k", "write 0 4k");
        assertThat(sample.text).isEqualTo("b");
    }

    @Test
    void aTypedValueIsRefusedInPicocliWords() {
        assertThatThrownBy(() -> parse(null, "-n", "many", "img"))
                .isInstanceOf(CommandLine.ParameterException.class)
                .hasMessageContaining("Invalid value for option '-n': 'many' is not an int");
    }

    @Test
    void aPositionalIsRequiredUnlessItsArityAllowsNone() {
        assertThatThrownBy(() -> parse(null, "-x"))
                .isInstanceOf(CommandLine.ParameterException.class)
                .hasMessage("Missing required parameter: 'FILE'");
        assertThat(parse("0..1", "-x").file).isNull();
    }

    @Test
    void aListPositionalTakesEveryValueAndNoneIsAlsoFine() {
        for (String[] args : new String[][]{{"if=a", "of=b", "bs=1k"}, {}}) {
            Sample sample = new Sample();
            SpecBuilder b = SpecBuilder.command("dd", sample, "dd.");
            b.positional("0..*").label("OPERAND").list(() -> sample.operands, v -> sample.operands = v);
            new CommandLine(b.spec()).parseArgs(args);
            assertThat(sample.operands == null ? List.of() : sample.operands).containsExactly(args);
        }
    }

    @Test
    void theHelpListsOptionsAndHidesHiddenOnesAndEveryCommandAnswersHelpAndVersion() {
        String usage = new CommandLine(new Sample().declare(null)).getUsageMessage();
        assertThat(usage).contains("-x, --flag", "A flag.", "--mode=MODE", "-h, --help", "-V, --version")
                .doesNotContain("--hidden-path");
    }

    @Test
    void everyQedCommandDeclaresItsOptionsAndCarriesNoAnnotationPicocliWouldHaveToRead() throws Exception {
        Map<String, Function<InputStream, DeclaredCommand>> commands = QedCommand.commands();
        assertThat(commands).hasSize(14);
        for (Map.Entry<String, Function<InputStream, DeclaredCommand>> e : commands.entrySet()) {
            DeclaredCommand command = e.getValue().apply(InputStream.nullInputStream());
            CommandSpec spec = command.declare();
            assertThat(spec.name()).isEqualTo(e.getKey());
            assertThat(spec.optionsMap()).as(e.getKey()).containsKeys("--help", "--version");
            // An annotation left on a command would be ignored without a word: none may remain.
            assertNoPicocliAnnotations(command.getClass());
            for (Field f : command.getClass().getDeclaredFields()) {
                assertNoPicocliAnnotations(f.getType());
            }
        }
        assertNoPicocliAnnotations(QedCommand.class);
    }

    private static void assertNoPicocliAnnotations(Class<?> type) {
        if (!type.getName().startsWith("org.qedkit.cli")) {
            return;
        }
        List<Annotation> found = new ArrayList<>(List.of(type.getDeclaredAnnotations()));
        for (Field f : type.getDeclaredFields()) {
            found.addAll(List.of(f.getDeclaredAnnotations()));
        }
        assertThat(found).as(type.getName())
                .noneMatch(a -> a.annotationType().getName().startsWith("picocli."));
    }
}
