# Sourced by the launchers (./qed, stress/run, benchmarks/run): finds a JDK 25 and builds
# what is missing. Not meant to be run on its own.

# qed runs what follows on every call, so the path it takes uses bash built-ins only and
# never a subshell: each $(...) is a fork, and each fork or helper program (readlink,
# dirname, sed, find) cost this kind of machine a few milliseconds.

# java_major JAVA: sets JAVA_MAJOR to the Java major version of the given java binary (0 when
# unknown), from the JDK's release file when there is one (starting a JVM just to ask costs
# a quarter of a second).
java_major() {
  local java="$1" line
  JAVA_MAJOR=0
  [[ "$java" == */bin/java && ! -L "$java" ]] || java="$(readlink -f "$java")"
  local release="${java%/bin/java}/release"
  if [[ -f "$release" ]]; then
    while IFS= read -r line; do
      if [[ "$line" =~ ^JAVA_VERSION=\"([0-9]+) ]]; then
        JAVA_MAJOR="${BASH_REMATCH[1]}"
        return 0
      fi
    done < "$release"
  else
    JAVA_MAJOR="$("$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')"
    JAVA_MAJOR="${JAVA_MAJOR:-0}"
  fi
}

# locate_java NAME: sets JAVA_BIN to the first java >= 25 from QEDKIT_JAVA, JAVA_HOME,
# /usr/lib/jvm, PATH; or says what is missing (as NAME) and fails.
locate_java() {
  local candidate
  for candidate in "${QEDKIT_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" /usr/lib/jvm/*/bin/java @PATH; do
    if [[ "$candidate" == @PATH ]]; then
      candidate="$(type -P java || true)" # last, so the usual call never forks for it
    fi
    if [[ -n "$candidate" && -x "$candidate" ]]; then
      java_major "$candidate"
      if (( JAVA_MAJOR >= 25 )); then
        JAVA_BIN="$candidate"
        return 0
      fi
    fi
  done
  echo "$1: a JDK 25 is needed: install one (e.g. Eclipse Temurin 25) under /usr/lib/jvm, or set JAVA_HOME to it" >&2
  return 1
}

# find_java NAME: prints what locate_java finds (for scripts that start a JVM once).
find_java() {
  locate_java "$1" && echo "$JAVA_BIN"
}

# sources_newer_than STAMP ROOT: true when a pom or a main source under ROOT is newer than
# STAMP (globbing and -nt, no find process).
sources_newer_than() {
  local stamp="$1" root="$2" f newer=1 globstar_was=0 nullglob_was=0
  shopt -q globstar && globstar_was=1
  shopt -q nullglob && nullglob_was=1
  shopt -s globstar nullglob
  for f in "$root"/pom.xml "$root"/*/pom.xml "$root"/*/src/main/**; do
    if [[ "$f" -nt "$stamp" ]]; then
      newer=0
      break
    fi
  done
  (( globstar_was )) || shopt -u globstar
  (( nullglob_was )) || shopt -u nullglob
  return "$newer"
}

# build_if_stale NAME ROOT STAMP MODULE: builds MODULE (and what it needs) with Maven when
# STAMP is missing or older than any pom or main source; one line on stderr says so.
build_if_stale() {
  local name="$1" root="$2" stamp="$3" module="$4"
  if [[ -f "$stamp" ]] && ! sources_newer_than "$stamp" "$root"; then
    return 0
  fi
  if ! command -v mvn >/dev/null; then
    echo "$name: Maven is needed to build qedkit on first use (apt-get install -y maven)" >&2
    return 1
  fi
  echo "$name: building qedkit (first use or sources changed)..." >&2
  local log
  log="$(mktemp)"
  # -DskipITs too: failsafe runs the launcher tests otherwise, and they would find the jar
  # stale (its time is set below) and build again, recursively.
  if ! (cd "$root" && mvn -B -q -DskipTests -DskipITs -pl "$module" -am install) >"$log" 2>&1; then
    cat "$log" >&2
    echo "$name: the build failed (output above)" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  touch "$stamp" # Maven keeps an unchanged jar's old time; mark this build as current
}
