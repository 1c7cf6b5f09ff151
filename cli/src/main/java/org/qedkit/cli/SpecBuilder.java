package org.qedkit.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.IGetter;
import picocli.CommandLine.Model.ISetter;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.Range;

import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Declares a command's options and parameters to picocli through its programmatic API,
 * not through annotations.
 *
 * <p>Why not annotations: picocli reads them by reflection at every start, and the JDK
 * answers each annotation type read for the first time (picocli's {@code Command},
 * {@code Option}, {@code Parameters}, {@code Mixin}, {@code Spec}, and the meta-annotations
 * on them) by generating a proxy class. Eight of them were about 40 ms of every {@code qed}
 * call on a two-CPU machine, a quarter of {@code qed info}, and JDK 25's ahead-of-time
 * cache keeps no generated proxy (docs/performance.md, "Start-up", fourth round). Declared
 * here, the same model costs a few object allocations.
 *
 * <p>Each command declares everything it takes in one {@code declare} method, options in
 * the order they read best; a value reaches the command's field through the getter and
 * setter given with it (picocli sets every option to its initial value, the getter's, before
 * it parses, and a repeated option appends to the list the getter returns). Options shared
 * by several commands live in {@link SharedOptions}, each group with a method that declares
 * it into a command's builder. What picocli derives from a type (a flag takes no value,
 * a {@code List} takes the option again and again, an {@code Integer} or a {@code Path}
 * is converted and refused in picocli's words) is derived from the type given here.
 */
final class SpecBuilder {
    private final CommandSpec spec;

    private SpecBuilder(CommandSpec spec) {
        this.spec = spec;
    }

    /**
     * A command named {@code name} that runs {@code command} (a {@code Callable} or
     * {@code Runnable}), with {@code -h/--help} and {@code -V/--version} as every qed command has.
     */
    static SpecBuilder command(String name, Object command, String description) {
        CommandSpec spec = CommandSpec.wrapWithoutInspection(command);
        spec.name(name);
        spec.usageMessage().description(description);
        // picocli's own mixinStandardHelpOptions reads them from annotations: declared here instead.
        spec.addOption(OptionSpec.builder("-h", "--help").usageHelp(true)
                .description("Show this help message and exit.").build());
        spec.addOption(OptionSpec.builder("-V", "--version").versionHelp(true)
                .description("Print version information and exit.").build());
        return new SpecBuilder(spec);
    }

    /** The option known by {@code names} (separated by spaces, as {@code "-f --format"}). */
    Option option(String names) {
        return new Option(names.split(" "));
    }

    /** The positional parameter at {@code index} (picocli's index syntax: {@code "0"}, {@code "1..*"}). */
    Positional positional(String index) {
        return new Positional(index);
    }

    /** The command as declared. */
    CommandSpec spec() {
        return spec;
    }

    /** Binds an argument to a command's field: picocli reads the initial value and sets what it parsed. */
    private record Binding<T>(Supplier<T> read, Consumer<T> write) implements IGetter, ISetter {
        @Override
        @SuppressWarnings("unchecked")
        public <V> V get() {
            return (V) read.get();
        }

        @Override
        @SuppressWarnings("unchecked")
        public <V> V set(V value) {
            V old = (V) read.get();
            write.accept((T) value);
            return old;
        }
    }

    /** What an option or a positional parameter says in the help, before its type and binding. */
    private abstract class Argument<A extends Argument<A>> {
        String label;
        String description;
        String defaultValue;
        String arity;

        abstract A self();

        /** The value's name in the help ({@code FMT}, {@code FILE}). */
        A label(String label) {
            this.label = label;
            return self();
        }

        /** Its line in the help. */
        A describe(String description) {
            this.description = description;
            return self();
        }

        /** The value it has when not given. */
        A defaultValue(String defaultValue) {
            this.defaultValue = defaultValue;
            return self();
        }

        /** How many values it takes, in picocli's range syntax ({@code "0..1"}); else the type says. */
        A arity(String arity) {
            this.arity = arity;
            return self();
        }

        /** A string value. */
        SpecBuilder text(Supplier<String> get, Consumer<String> set) {
            return typed(String.class, get, set);
        }

        /** A value of {@code type}, converted (and refused when it is not one) by picocli. */
        <T> SpecBuilder typed(Class<T> type, Supplier<T> get, Consumer<T> set) {
            add(type, null, new Binding<>(get, set));
            return SpecBuilder.this;
        }

        /** Every value given, in order, as strings. */
        SpecBuilder list(Supplier<List<String>> get, Consumer<List<String>> set) {
            add(List.class, String.class, new Binding<>(get, set));
            return SpecBuilder.this;
        }

        abstract void add(Class<?> type, Class<?> elementType, Binding<?> binding);

        /**
         * What options and positional parameters have alike, given to either builder through
         * its own setters (picocli keeps their common builder type to itself).
         */
        void common(Class<?> elementType, Consumer<Class<?>[]> auxiliaryTypes, Consumer<String> paramLabel,
                    Consumer<String[]> description, Consumer<String> defaultValue) {
            if (elementType != null) {
                auxiliaryTypes.accept(new Class<?>[]{elementType});
            }
            if (label != null) {
                paramLabel.accept(label);
            }
            if (this.description != null) {
                description.accept(new String[]{this.description});
            }
            if (this.defaultValue != null) {
                defaultValue.accept(this.defaultValue);
            }
        }
    }

    /** An option being declared; {@link #flag}, {@link #text}, {@link #typed} or {@link #list} ends it. */
    final class Option extends Argument<Option> {
        private final String[] names;
        private boolean hidden;
        private boolean required;

        private Option(String[] names) {
            this.names = names;
        }

        @Override
        Option self() {
            return this;
        }

        /** Left out of the help (accepted for compatibility, or internal). */
        Option hidden() {
            this.hidden = true;
            return this;
        }

        /** Must be given. */
        Option required() {
            this.required = true;
            return this;
        }

        /** An option that takes no value: true when given. */
        SpecBuilder flag(Supplier<Boolean> get, Consumer<Boolean> set) {
            return typed(boolean.class, get, set);
        }

        @Override
        void add(Class<?> type, Class<?> elementType, Binding<?> binding) {
            OptionSpec.Builder b = OptionSpec.builder(names).type(type).getter(binding).setter(binding)
                    .initialValue(binding.read().get()).hidden(hidden).required(required);
            common(elementType, b::auxiliaryTypes, b::paramLabel, b::description, b::defaultValue);
            if (arity != null) {
                b.arity(arity);
            }
            spec.addOption(b.build());
        }
    }

    /** A positional parameter being declared; {@link #text}, {@link #typed} or {@link #list} ends it. */
    final class Positional extends Argument<Positional> {
        private final String index;

        private Positional(String index) {
            this.index = index;
        }

        @Override
        Positional self() {
            return this;
        }

        @Override
        void add(Class<?> type, Class<?> elementType, Binding<?> binding) {
            PositionalParamSpec.Builder b = PositionalParamSpec.builder().index(index).type(type)
                    .getter(binding).setter(binding).initialValue(binding.read().get());
            common(elementType, b::auxiliaryTypes, b::paramLabel, b::description, b::defaultValue);
            // As picocli derives it for an annotated parameter: one value, or for a list none
            // or one at each position; required when at least one is needed.
            Range range = Range.valueOf(arity != null ? arity : elementType != null ? "0..1" : "1")
                    .unspecified(arity == null);
            b.arity(range).required(range.min() > 0);
            spec.addPositional(b.build());
        }
    }
}
