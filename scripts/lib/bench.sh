# Sourced by the benchmark scripts: one machine-readable line per measured
# point, beside their markdown tables.
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
