package org.qedkit.cli;

import java.util.ArrayList;
import java.util.List;

/**
 * The option parsing qemu-io's commands get from glibc's {@code getopt}: short options,
 * clustered ({@code -qv}), a value glued on or in the next word ({@code -P0xab},
 * {@code -P 0xab}), options anywhere among the operands ({@code read 0 1k -P 1}: glibc
 * permutes them to the front), and {@code --} to end the options.
 *
 * <p>A letter that is not in the spec, or one that needs a value and has none, is reported
 * as glibc does, on standard error with the command's name
 * ({@code read: invalid option -- 'x'}); {@link #parse} then returns {@code null} and the
 * caller prints its usage line, as qemu-io's commands do.
 */
final class Getopt {
    private final String spec;

    /** {@code spec} in getopt's notation: each option letter, with {@code :} after one that takes a value. */
    Getopt(String spec) {
        this.spec = spec;
    }

    /** The options seen, in order, and the operands left. */
    record Parsed(List<Option> options, List<String> operands) {
        boolean has(char letter) {
            return options.stream().anyMatch(o -> o.letter == letter);
        }
    }

    /** One option as given; {@code value} is null for a flag. */
    record Option(char letter, String value) {
    }

    /** Parses {@code args} (the words after the command's name); null after a reported mistake. */
    Parsed parse(String command, List<String> args, java.io.PrintWriter err) {
        List<Option> options = new ArrayList<>();
        List<String> operands = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String word = args.get(i);
            if (word.equals("--")) {
                operands.addAll(args.subList(i + 1, args.size()));
                break;
            }
            if (!word.startsWith("-") || word.length() == 1) {
                operands.add(word);
                continue;
            }
            for (int c = 1; c < word.length(); c++) {
                char letter = word.charAt(c);
                int at = letter == ':' ? -1 : spec.indexOf(letter);
                if (at < 0) {
                    err.println(command + ": invalid option -- '" + letter + "'");
                    return null;
                }
                boolean takesValue = at + 1 < spec.length() && spec.charAt(at + 1) == ':';
                if (!takesValue) {
                    options.add(new Option(letter, null));
                    continue;
                }
                String value;
                if (c + 1 < word.length()) {
                    value = word.substring(c + 1);
                } else if (i + 1 < args.size()) {
                    value = args.get(++i);
                } else {
                    err.println(command + ": option requires an argument -- '" + letter + "'");
                    return null;
                }
                options.add(new Option(letter, value));
                break;
            }
        }
        return new Parsed(options, operands);
    }
}
