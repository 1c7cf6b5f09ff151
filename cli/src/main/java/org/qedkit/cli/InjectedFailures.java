package org.qedkit.cli;

import org.qedkit.QemuImageName;

import java.util.List;
import java.util.function.Predicate;

/**
 * blkdebug's {@code inject-error} rules for one kind of request, with blkdebug's matching:
 * the first rule that applies and touches the request's range fails it; a rule marked
 * {@code once} fails only the first such request. What the tools' injecting sources
 * ({@link SourceImage#injecting}) and targets ({@link TargetImage#injecting}) share; each
 * says which rules it takes and how a failure reads.
 */
final class InjectedFailures {
    private final List<QemuImageName.InjectedError> rules;
    private final boolean[] spent;

    /** The rules of {@code all} that {@code taken} accepts, in their order. */
    InjectedFailures(List<QemuImageName.InjectedError> all, Predicate<QemuImageName.InjectedError> taken) {
        this.rules = all.stream().filter(taken).toList();
        this.spent = new boolean[rules.size()];
    }

    boolean isEmpty() {
        return rules.isEmpty();
    }

    /**
     * The rule that fails a request over {@code [offset, offset + length)} of which
     * {@code applies} accepts it, or null when none does; a {@code once} rule is spent by it.
     */
    QemuImageName.InjectedError failing(long offset, long length, Predicate<QemuImageName.InjectedError> applies) {
        for (int i = 0; i < rules.size(); i++) {
            QemuImageName.InjectedError rule = rules.get(i);
            if (!spent[i] && applies.test(rule) && rule.touches(offset, length)) {
                spent[i] = rule.once();
                return rule;
            }
        }
        return null;
    }
}
