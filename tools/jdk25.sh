# Sourced by the launchers (./qed, stress/run, benchmarks/run): finds a JDK 25 and builds
# what is missing. Not meant to be run on its own.

# java_major JAVA: prints the Java major version of the given java binary, from the JDK's
# release file when there is one (starting a JVM just to ask costs a quarter of a second).
# Bash built-ins only on that path: qed runs this on every call, and each helper program
# (readlink, dirname, sed) cost a few milliseconds per JDK looked at.
java_major() {
  local java="$1" line
  [[ "$java" == */bin/java && ! -L "$java" ]] || java="$(readlink -f "$java")"
  local release="${java%/bin/java}/release"
  if [[ -f "$release" ]]; then
    while IFS= read -r line; do
      if [[ "$line" =~ ^JAVA_VERSION=\"([0-9]+) ]]; then
        echo "${BASH_REMATCH[1]}"
        return 0
      fi
    done < "$release"
    return 1
  else
    "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p'
  fi
}

# find_java: prints the first java >= 25 from QEDKIT_JAVA, JAVA_HOME, /usr/lib/jvm, PATH.
find_java() {
  local candidate
  for candidate in "${QEDKIT_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" /usr/lib/jvm/*/bin/java "$(command -v java || true)"; do
    if [[ -n "$candidate" && -x "$candidate" ]] && (( $(java_major "$candidate" || echo 0) >= 25 )); then
      echo "$candidate"
      return 0
    fi
  done
  echo "$1: a JDK 25 is needed: install one (e.g. Eclipse Temurin 25) under /usr/lib/jvm, or set JAVA_HOME to it" >&2
  return 1
}

# build_if_stale NAME ROOT STAMP MODULE: builds MODULE (and what it needs) with Maven when
# STAMP is missing or older than any pom or main source; one line on stderr says so.
build_if_stale() {
  local name="$1" root="$2" stamp="$3" module="$4"
  if [[ -f "$stamp" && -z "$(find "$root"/pom.xml "$root"/*/pom.xml "$root"/*/src/main -newer "$stamp" -print -quit)" ]]; then
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
