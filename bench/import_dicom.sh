#!/usr/bin/env bash
# Import throughput: medsiam-cli import against the pydicom+gdcm reference decoder
# (../shared/bench/reference_dicom_decode.py) on the same folder, in the same run: Debian's
# pydicom test corpus copied N times (default 30). Prints files/s for both and the ratio.
#
#   bench/import_dicom.sh [COPIES] [ROUNDS]   (build first: scripts/build.sh)
#
# The tools alternate for ROUNDS rounds (default 3) and the medians are printed too: on a shared
# machine single timings of one to six seconds move by several percent.
#
# medsiam is timed twice: with --keep-duplicates, so that it decodes, windows, letterboxes,
# caches and catalogues every copy like the reference decodes every copy; and as users run it,
# where copies already in the project are recognised by content hash and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
copies="${1:-30}"
rounds="${2:-3}"
corpus=/usr/lib/python3/dist-packages/pydicom/data/test_files
reference="${MEDSIAM_SHARED_DIR:-../shared}/bench/reference_dicom_decode.py"
cli=build/app/medsiam-cli
[ -x "$cli" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
[ -f "$reference" ] || { echo "reference script not found: $reference" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq -w 1 "$copies"); do cp -r "$corpus" "$work/copy$i"; done
files=$(find "$work" -type f | wc -l)
echo "input: $files files ($copies copies of the pydicom corpus)"

now() { date +%s.%N; }
: > "$work.rounds.txt"
for round in $(seq 1 "$rounds"); do
  t0=$(now)
  ref_json=$(/usr/bin/python3 "$reference" "$work" --size 224 2>/dev/null)
  t1=$(now)
  "$cli" import "$work" --project "$work.all.medsiam" --keep-duplicates --size 224 > "$work.all.txt" 2>/dev/null
  t2=$(now)
  "$cli" import "$work" --project "$work.dedup.medsiam" --size 224 > "$work.dedup.txt" 2>/dev/null
  t3=$(now)
  rm -rf "$work.all.medsiam" "$work.dedup.medsiam"
  own=$(head -1 "$work.all.txt" | sed -E 's/.*\(([0-9.]+) files\/s\).*/\1/')
  echo "$t0 $t1 $t2 $t3 $own $ref_json" >> "$work.rounds.txt"
done

python3 - "$files" "$work.rounds.txt" "$(head -1 "$work.all.txt")" <<'PY'
import json, statistics, sys
files = int(sys.argv[1])
rows = []
for line in open(sys.argv[2]):
    t0, t1, t2, t3, own, ref = line.split(" ", 5)
    t0, t1, t2, t3, own = map(float, (t0, t1, t2, t3, own))
    ref = json.loads(ref)
    rows.append(dict(ref=files / (t1 - t0), ref_own=ref["files_per_s"], all=files / (t2 - t1), own=own,
                     dedup=files / (t3 - t2), decoded=ref["decoded"], peer=ref["peer"]))
for i, r in enumerate(rows, 1):
    print(f"round {i}: reference {r['ref']:7.1f} files/s, medsiam {r['all']:7.1f} files/s, ratio {r['all'] / r['ref']:5.2f}x "
          f"(process wall time); own timers {r['own']:7.1f} vs {r['ref_own']:6.1f}, ratio {r['own'] / r['ref_own']:5.2f}x")
med = lambda key: statistics.median(r[key] for r in rows)
ratio = lambda a, b: statistics.median(r[a] / r[b] for r in rows)
print(f"reference  {rows[0]['peer']}: {rows[0]['decoded']} decoded, median {med('ref'):8.1f} files/s (process wall time; "
      f"script's own figure {med('ref_own'):.1f})")
print(f"medsiam    every copy decoded (--keep-duplicates): median {med('all'):8.1f} files/s   ratio {ratio('all', 'ref'):5.2f}x "
      f"(median of {len(rows)} rounds, process wall time)")
print(f"           the same, each tool's own timer (no interpreter/library start-up): median {med('own'):8.1f} vs "
      f"{med('ref_own'):.1f} files/s, ratio {ratio('own', 'ref_own'):5.2f}x")
print(f"medsiam    default, copies skipped by content:     median {med('dedup'):8.1f} files/s   ratio {ratio('dedup', 'ref'):5.2f}x")
print("medsiam summary:", sys.argv[3])
PY
