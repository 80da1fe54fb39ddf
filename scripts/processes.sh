# Sourced by the check scripts that start pushgate processes: a temporary directory ($tmp),
# the started processes ($pids, stopped with SIGTERM and awaited on exit), and wait_for.
tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for FILE PATTERN PID: until FILE has a line matching PATTERN (bounded), or PID died.
wait_for() {
    for _ in $(seq 1 300); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1
    done
    echo "error: no '$2' in $1"; cat "$1" "$tmp"/*.err 2>/dev/null; exit 1
}
