package org.qedkit.cli;

import picocli.CommandLine.Model.CommandSpec;

/** A {@code qed} command that declares its options to picocli itself ({@link SpecBuilder} says why). */
interface DeclaredCommand {
    /** The command's name, options and parameters, bound to this instance's fields; called once, before parsing. */
    CommandSpec declare();
}
