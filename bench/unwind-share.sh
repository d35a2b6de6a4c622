#!/bin/sh
# The share of the rotator's CPU samples spent capturing backtraces (stack unwinding), from a
# `perf record -e cpu-clock` of akv-bench. The rotator is the bench's own process, the lowest
# pid in the recording (the emulator child comes after it).
#
#   RUST_BACKTRACE=1 perf record -q -e cpu-clock -F 4000 -o run.data \
#       target/release/akv-bench --apps 1000
#   bench/unwind-share.sh run.data
set -eu
perf script -i "$1" -F pid,ip,sym 2>/dev/null | awk '
  NF >= 1 {
    pid = $1; $1 = ""; $2 = ""; sym = $0
    if (first == "" || pid + 0 < first + 0) first = pid
    total[pid]++
    if (sym ~ /[Uu]nwind|backtrace|Backtrace|dl_iterate_phdr|_ULx86|gimli|find_fde|search_object|uw_frame|uw_update/) unwinding[pid]++
  }
  END {
    printf "rotator pid %s: %d samples, %d in stack unwinding = %.1f %%\n",
      first, total[first], unwinding[first], 100 * unwinding[first] / total[first]
  }'
