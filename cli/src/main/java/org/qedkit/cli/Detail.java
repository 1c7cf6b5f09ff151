package org.qedkit.cli;

import java.io.PrintWriter;

/**
 * Where qedkit's own diagnosis goes when QEMU has a message for the same failure.
 *
 * <p>The rule (docs/compatibility.md): the first line is QEMU's, word for word, with its
 * program's prefix, because scripts and QEMU's own tests match on it. qedkit's diagnosis
 * (the field, the value, the rule) follows as one more line on standard error, starting
 * {@code qed: detail: }, when a person is at a terminal, or always with
 * {@code QED_DETAIL=1}; {@code QED_DETAIL=0} turns it off. Piped output stays QEMU's.
 */
final class Detail {
    private Detail() {
    }

    static boolean enabled() {
        String setting = System.getenv("QED_DETAIL");
        if (setting != null && !setting.isEmpty()) {
            return !setting.equals("0") && !setting.equalsIgnoreCase("off");
        }
        java.io.Console console = System.console();
        return console != null && console.isTerminal();
    }

    /** Prints {@code why} as the detail line, when details are on and it says more than QEMU's line. */
    static void print(PrintWriter err, String qemuLine, String why) {
        if (why != null && !why.isBlank() && !qemuLine.contains(why) && enabled()) {
            err.println("qed: detail: " + why);
            err.flush();
        }
    }
}
