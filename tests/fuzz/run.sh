#!/usr/bin/env bash
# Fuzzes medsiam's file readers with libFuzzer (clang, ASan, UBSan): builds the `fuzz` preset,
# writes the seed corpora (tests/fuzz/MakeSeeds.cpp), replays every regression file kept in
# tests/data/fuzz/<target>/, then runs each target for RUNS inputs (default 20000; at most
# SECONDS each, default 90). Any crash, sanitizer report, leak, hang (10 s) or memory blow-up
# (2 GB) fails the run; its input is left in build-fuzz/work/findings/.
# Usage: tests/fuzz/run.sh [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-20000}"
seconds="${2:-90}"
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${MEDSIAM_BUILD_JOBS:-2}"

bin=build-fuzz/tests/fuzz
work=build-fuzz/work
rm -rf "$work"
mkdir -p "$work/findings"
"$bin/medsiam-fuzz-seeds" "$work/seeds" tests/data

failed=()
summary=()
for target in dicom raster volume npz npy safetensors bit_npz pickle; do
  exe="$bin/fuzz_$target"
  [ -x "$exe" ] || { echo "fuzz: $target not built (its library is off in this build)"; continue; }
  # Leak checking for medsiam's own readers; the image libraries keep caches of their own.
  case "$target" in dicom|raster|volume) leaks=0 ;; *) leaks=1 ;; esac
  # DCMTK reserves an element's stated length with new(nothrow) and touches only what the file
  # holds (a 2 kB file stating 2.6 GB stays at 20 MB resident in medsiam-cli): for it the resident
  # memory limit is the one that counts. Every other reader must not even ask for more than 2 GB.
  malloc_limit=2048
  [ "$target" = dicom ] && malloc_limit=8192
  export ASAN_OPTIONS="detect_leaks=$leaks:allocator_may_return_null=1:handle_abort=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  regress="tests/data/fuzz/$target"
  if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
    echo "== fuzz_$target: replaying $(ls "$regress" | wc -l) regression files"
    if ! "$exe" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=$malloc_limit "$regress"/* > "$work/$target-regress.log" 2>&1; then
      tail -n 30 "$work/$target-regress.log"
      failed+=("$target (regression)")
      continue
    fi
  fi
  mkdir -p "$work/corpus/$target"
  echo "== fuzz_$target: $runs inputs (at most ${seconds} s)"
  set +e
  "$exe" -runs="$runs" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=$malloc_limit -max_len=65536 \
    -artifact_prefix="$work/findings/$target-" -print_final_stats=1 \
    "$work/corpus/$target" "$work/seeds/$target" > "$work/$target.log" 2>&1
  status=$?
  set -e
  done_line=$(grep -E "^#[0-9]+.*(DONE|pulse|NEW|REDUCE)" "$work/$target.log" | tail -n 1 || true)
  execs=$(grep -E "stat::number_of_executed_units" "$work/$target.log" | awk '{print $2}' || true)
  summary+=("$(printf '%-12s %8s inputs  %s' "$target" "${execs:-?}" "$(echo "$done_line" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' || true)")")
  if [ $status -ne 0 ]; then
    tail -n 40 "$work/$target.log"
    failed+=("$target")
  fi
done

# The volume corpus through the GCC build's importer, ITK and all: nothing may hang or crash
# once past medsiam's header checks (ITK cannot be built into the clang targets).
if [ -x build/app/medsiam-cli ] && [ -d "$work/corpus/volume" ]; then
  replay="$work/volume-replay"
  mkdir -p "$replay/files"
  exts=(.mha .nii .nrrd .nii.gz)
  for f in "$work/corpus/volume"/* "$work/seeds/volume"/* tests/data/fuzz/volume/*; do
    [ -s "$f" ] || continue
    b=$(head -c1 "$f" | od -An -tu1 | tr -d ' ')
    tail -c +2 "$f" > "$replay/files/$(basename "$f")${exts[$((b % 4))]}"
  done
  count=$(ls "$replay/files" | wc -l)
  echo "== volumes: $count corpus files through medsiam-cli import (ITK)"
  # Several times over: ITK's NRRD reader once crashed only when two threads met in it.
  status=0
  for round in 1 2 3 4 5 6 7 8; do
    rm -rf "$replay/project"
    set +e
    timeout 600 build/app/medsiam-cli import "$replay/files" --project "$replay/project" --size 16 --file-timeout 10 \
      > "$replay/import.log" 2>&1
    status=$?
    set -e
    [ $status -eq 0 ] || break
  done
  if [ $status -ne 0 ] || grep -q "did not finish" <(build/app/medsiam-cli info "$replay/project" --issues 2>&1); then
    tail -n 20 "$replay/import.log"
    build/app/medsiam-cli info "$replay/project" --issues 2>&1 | grep "did not finish" | head
    failed+=("volume (ITK replay)")
  fi
  summary+=("$(printf '%-12s %8s files through ITK: %s' "volume/ITK" "$count" "$(grep -oE '[0-9]+ imported .*' "$replay/import.log" | tail -n 1 || true)")")
else
  echo "== volumes: build/app/medsiam-cli not built; the ITK replay of the volume corpus is skipped"
fi

echo "== fuzz summary (inputs run, edges covered, features, corpus)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}; inputs in $work/findings/ (add each, once fixed, to tests/data/fuzz/<target>/)"
  exit 1
fi
echo "fuzz: no findings"
