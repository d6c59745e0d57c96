# Sourced by the benchmark scripts: one machine-readable line per measured
# point, beside their markdown tables (`bench_line`), the wait for a server
# to print its address (`await_addr`), stopping what they started
# (`stop_pids`), and the API endpoints they measure (`api_endpoints`).
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

# The API endpoints the benchmarks measure, one per line as
# `key|name|/path` (its key in the BENCH lines, its name in the tables, its
# path on confab), over a `bench-seed` database: $1 the AccountSid, $2 a
# completed ConferenceSid, $3 the live one with participants, $4 the date
# the date filters split at (YYYY-MM-DD), $5 the deep page's number.
api_endpoints() {
  local base=/2008-08-01/Accounts/$1 base10=/2010-04-01/Accounts/$1
  local conference_sid=$2 live_sid=$3 since=$4 deep_page=$5
  printf '%s\n' \
    "conference_instance|conference instance GET|$base/Conferences/$conference_sid" \
    "conferences_list|conference list, page of 50|$base/Conferences" \
    "conferences_list_deep|conference list, page $deep_page|$base/Conferences?page=$deep_page" \
    "conferences_list_filtered|conference list, Status=2 & DateCreated>=$since|$base/Conferences?Status=2&DateCreated%3E=$since" \
    "conferences_status|conference list, Status=in-progress|$base/Conferences?Status=1" \
    "conferences_status_deep|conference list, Status=2, page $((deep_page / 2))|$base/Conferences?Status=2&page=$((deep_page / 2))" \
    "conferences_name|conference list, FriendlyName=standup-7|$base/Conferences?FriendlyName=standup-7" \
    "conferences_created_eq|conference list, DateCreated=$since|$base/Conferences?DateCreated=$since" \
    "conferences_created_lt|conference list, DateCreated<$since|$base/Conferences?DateCreated%3C=$since" \
    "conferences_created_gt|conference list, DateCreated>$since|$base/Conferences?DateCreated%3E=$since" \
    "conferences_updated_eq|conference list, DateUpdated=$since|$base/Conferences?DateUpdated=$since" \
    "conferences_updated_lt|conference list, DateUpdated<$since|$base/Conferences?DateUpdated%3C=$since" \
    "conferences_updated_gt|conference list, DateUpdated>$since|$base/Conferences?DateUpdated%3E=$since" \
    "conferences_list_2010|2010 conference list, page of 50|$base10/Conferences.json" \
    "conferences_list_2010_deep|2010 conference list, PageToken page $deep_page|$base10/Conferences.json?PageSize=50&Page=$deep_page&PageToken=PT$deep_page" \
    "participants_list|participants list (20)|$base/Conferences/$live_sid/Participants" \
    "calls_list|2008 calls list, page of 50|$base/Calls" \
    "calls_list_deep|2008 calls list, page $deep_page|$base/Calls?page=$deep_page" \
    "calls_list_2010|2010 calls list, page of 50|$base10/Calls.json" \
    "calls_list_2010_deep|2010 calls list, PageToken page $deep_page|$base10/Calls.json?PageSize=50&Page=$deep_page&PageToken=PT$deep_page" \
    "calls_status_2010|2010 calls list, Status=busy|$base10/Calls.json?Status=busy"
}
