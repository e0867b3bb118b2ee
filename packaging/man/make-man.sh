#!/usr/bin/env bash
# Writes the man pages medsiam.1.gz and medsiam-cli.1.gz from the programs' own --help texts, so
# that they say what the installed programs do. Run by the build (packaging/CMakeLists.txt).
# Usage: make-man.sh OUT_DIR MEDSIAM_CLI MEDSIAM VERSION
set -euo pipefail
out=$1 cli=$2 gui=$3 version=$4
mkdir -p "$out"
export QT_QPA_PLATFORM=offscreen # the desktop app prints its --help without a display

# Help text as roff: backslashes and minus signs escaped, no line taken for a request.
roff() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^[.']/\\\\\&&/"; }

{
  echo ".TH MEDSIAM-CLI 1 \"\" \"medsiam $version\" \"User Commands\""
  echo ".SH NAME"
  echo "medsiam-cli \\- self-supervised (SimSiam) and transfer (BiT) learning for medical images, headless"
  echo ".SH SYNOPSIS"
  echo ".B medsiam-cli"
  echo "\\fICOMMAND\\fR [\\fIoptions\\fR]"
  echo ".br"
  echo ".B medsiam-cli"
  echo "\\fICOMMAND\\fR \\fB\\-\\-help\\fR"
  echo ".br"
  echo ".B medsiam-cli \\-\\-version"
  echo ".SH DESCRIPTION"
  echo "medsiam-cli imports medical images into a project, labels and splits them, trains SimSiam and"
  echo "classifiers (from random weights, a SimSiam run or Big Transfer weights), evaluates, maps and explains"
  echo "them: the desktop application \\fBmedsiam\\fR(1) without its windows."
  echo ".SH COMMANDS"
  "$cli" --help | sed -n '/^commands:/,/^$/p' | sed '1d;/^$/d' | while read -r name summary; do
    echo ".TP"
    echo ".B $(echo "$name" | roff)"
    echo "$summary" | roff
  done
  echo ".SH OPTIONS OF EACH COMMAND"
  "$cli" --help | sed -n '/^commands:/,/^$/p' | sed '1d;/^$/d' | while read -r name summary; do
    echo ".SS $(echo "$name" | roff)"
    echo ".nf"
    "$cli" "$name" --help | roff
    echo ".fi"
  done
  echo ".SH EXIT STATUS"
  echo "0 on success; 1 when the command failed (the reason is on standard error); 2 for a usage error."
  echo ".SH SEE ALSO"
  echo "\\fBmedsiam\\fR(1); the user guide in /usr/share/doc/medsiam/USER_GUIDE.md."
} > "$out/medsiam-cli.1"

{
  echo ".TH MEDSIAM 1 \"\" \"medsiam $version\" \"User Commands\""
  echo ".SH NAME"
  echo "medsiam \\- workstation for learning from many medical images and few labels"
  echo ".SH SYNOPSIS"
  echo ".B medsiam"
  echo "[\\fIoptions\\fR] [\\fIproject\\fR]"
  echo ".SH DESCRIPTION"
  echo "medsiam opens a project (a folder) of medical images: import DICOM series, volumes and plain images,"
  echo "browse and label them, train a classifier in the background (Train > Train a Classifier), and read"
  echo "its results, maps and explanations. Help > User Guide explains each step."
  echo ".SH OPTIONS"
  echo ".nf"
  "$gui" --help 2>/dev/null | sed '1,2d' | roff
  echo ".fi"
  echo ".SH FILES"
  echo ".TP"
  echo ".I PROJECT/project.sqlite"
  echo "the project's catalogue, labels, splits and index of runs"
  echo ".TP"
  echo ".I PROJECT/runs/"
  echo "one folder per training run: settings, curves, checkpoints, results"
  echo ".TP"
  echo ".I ~/.config/medsiam/medsiam.conf"
  echo "the window's layout, recent projects and the dialogs' last values"
  echo ".SH SEE ALSO"
  echo "\\fBmedsiam\\-cli\\fR(1); /usr/share/doc/medsiam/USER_GUIDE.md."
} > "$out/medsiam.1"

gzip -9nf "$out/medsiam-cli.1" "$out/medsiam.1"
