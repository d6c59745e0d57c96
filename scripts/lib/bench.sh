# Sourced by the benchmark scripts: one machine-readable line per measured
# point, beside their markdown tables (`bench_line`), the wait for a server
# to print its address (`await_addr`), and stopping what they started
# (`stop_pids`).
#
#   bench_line bench=media participants=1000 late_tick_pct=0.02 ...
#
# prints `BENCH {"bench":"media","participants":1000,"late_tick_pct":0.02,...}`
# on stdout: a value that is a JSON number is written as one, anything else
# as a string (empty or unmeasured values, such as "n/a", become null).
bench_line() {
  local json="" pair key value
  for pair in "$@"; do
    key=${pair%%=*}
    value=${pair#*=}
    if [[ $value =~ ^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then
      :
    elif [ -z "$value" ] || [ "$value" = "n/a" ] || [ "$value" = "?" ]; then
      value=null
    else
      value=${value//\\/\\\\}
      value="\"${value//\"/\\\"}\""
    fi
    json+="${json:+,}\"$key\":$value"
  done
  echo "BENCH {$json}"
}

# Waits (at most ${AWAIT_SECONDS:-60} s) for process $1 to print
# "$2http://ADDR" in file $3 (its stderr in $3.err); prints ADDR. Needs the
# sourcing script's `die`.
await_addr() {
  local pid=$1 prefix=$2 out=$3 seconds=${AWAIT_SECONDS:-60} line
  for _ in $(seq $((seconds * 10))); do
    line=$(grep -m1 "^${prefix}http://" "$out" 2>/dev/null || true)
    if [ -n "$line" ]; then
      echo "${line#"${prefix}http://"}"
      return
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$out" "$out.err" >&2 || true; die "process $pid exited before listening"; }
    sleep 0.1
  done
  die "process $pid did not print ${prefix}http://ADDR within $seconds s"
}

# Stops every process in the sourcing script's `pids` array: signals them
# all, then waits for each.
stop_pids() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
