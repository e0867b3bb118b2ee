#!/usr/bin/env bash
# Import throughput: medsiam-cli import against the pydicom+gdcm reference decoder
# (../shared/bench/reference_dicom_decode.py) on the same folder, in the same run: Debian's
# pydicom test corpus copied N times (default 30). Prints files/s for both and the ratio.
#
#   bench/import_dicom.sh [COPIES]        (build first: scripts/build.sh)
#
# medsiam is timed twice: with --keep-duplicates, so that it decodes, windows, letterboxes,
# caches and catalogues every copy like the reference decodes every copy; and as users run it,
# where copies already in the project are recognised by content hash and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
copies="${1:-30}"
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
t0=$(now)
ref_json=$(/usr/bin/python3 "$reference" "$work" --size 224 2>/dev/null)
t1=$(now)
"$cli" import "$work" --project "$work.all.medsiam" --keep-duplicates --size 224 > "$work.all.txt" 2>/dev/null
t2=$(now)
"$cli" import "$work" --project "$work.dedup.medsiam" --size 224 > "$work.dedup.txt" 2>/dev/null
t3=$(now)
rm -rf "$work.all.medsiam" "$work.dedup.medsiam"

python3 - "$files" "$t0" "$t1" "$t2" "$t3" "$ref_json" "$(cat "$work.all.txt")" <<'PY'
import json, sys
files = int(sys.argv[1]); t0, t1, t2, t3 = map(float, sys.argv[2:6])
ref = json.loads(sys.argv[6])
ref_fps = files / (t1 - t0)
all_fps = files / (t2 - t1)
dedup_fps = files / (t3 - t2)
print(f"reference  {ref['peer']}: {ref['decoded']} decoded, {ref_fps:8.1f} files/s (process wall time; script's own figure {ref['files_per_s']})")
# The summary line: "Processed N files in 1.4 s (3590 files/s): ..."; its files/s is unrounded.
own_all = float(sys.argv[7].split(" files/s)")[0].rsplit("(", 1)[1])
print(f"medsiam    every copy decoded (--keep-duplicates): {all_fps:8.1f} files/s   ratio {all_fps / ref_fps:5.2f}x (process wall time)")
print(f"           the same, each tool's own timer (no interpreter/library start-up): {own_all:8.1f} vs {ref['files_per_s']} files/s, ratio {own_all / ref['files_per_s']:5.2f}x")
print(f"medsiam    default, copies skipped by content:     {dedup_fps:8.1f} files/s   ratio {dedup_fps / ref_fps:5.2f}x")
print("medsiam summary:", sys.argv[7].splitlines()[0])
PY
