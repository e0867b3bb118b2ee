# Sourced by the bench/ scripts that time training steps.
# demo_project SIZE: sets cli (MEDSIAM_CLI or the build's), work (a folder removed on exit) and
# project, the bundled X-rays imported there at SIZE px.
demo_project() {
  cli=${MEDSIAM_CLI:-build/app/medsiam-cli}
  [ -x "$cli" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  project=$work/demo.medsiam
  "$cli" import datasets/pneumoniamnist_28.npz --project "$project" --size "$1" >/dev/null 2>&1
}
# step_rate CLI PROJECT [PYTHON]: the median images/s of the project's newest SimSiam run's steps,
# after the first three (warm-up), from its metrics.jsonl.
step_rate() {
  local cli=$1 project=$2 py=${3:-python3} run
  run=$("$cli" runs "$project" | awk '$2 == "simsiam-pretrain" {id=$1} END {print id}')
  "$py" - "$project/runs/$run/metrics.jsonl" <<'PY'
import json, statistics, sys
r = [json.loads(l)["img_s"] for l in open(sys.argv[1]) if '"type":"step"' in l][3:]
print(round(statistics.median(r), 1))
PY
}
