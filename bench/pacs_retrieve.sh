#!/usr/bin/env bash
# Retrieve throughput from a PACS on loopback: medsiam-cli pacs get (C-GET, and C-MOVE) against
# DCMTK's own getscu and movescu on the same study, from one Orthanc started here.
# Usage: bench/pacs_retrieve.sh [BUILD_DIR] [INSTANCES] [SIDE]   (defaults: build 400 512)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"; n="${2:-400}"; side="${3:-512}"
cli="$build/app/medsiam-cli"
work="$(mktemp -d)"; trap 'kill "${orthanc_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000)); http=$((port + 1)); move=$((port + 2)); movepeer=$((port + 3))
cat > "$work/orthanc.json" <<JSON
{"Name":"bench","StorageDirectory":"$work/db","IndexDirectory":"$work/db","DicomAet":"ORTHANC","DicomPort":$port,
 "HttpPort":$http,"RemoteAccessAllowed":false,"AuthenticationEnabled":false,"DicomCheckCalledAet":true,"Plugins":[],
 "DicomModalities":{"medsiam":["MEDSIAM","127.0.0.1",$move],"getscu":["GETSCU","127.0.0.1",$movepeer]}}
JSON
/usr/sbin/Orthanc "$work/orthanc.json" >"$work/orthanc.log" 2>&1 & orthanc_pid=$!
for _ in $(seq 100); do echoscu -aec ORTHANC 127.0.0.1 "$port" 2>/dev/null && break; sleep 0.2; done
# $n CT-like 16-bit slices of $side x $side, one series.
/usr/bin/python3 - "$work/seed" "$n" "$side" <<'PY'
import sys, os, numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
out, n, side = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
study, series = generate_uid(), generate_uid()
rng = np.random.default_rng(0)
for i in range(n):
    m = FileMetaDataset(); m.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"; m.MediaStorageSOPInstanceUID = generate_uid()
    m.TransferSyntaxUID = ExplicitVRLittleEndian
    d = Dataset(); d.file_meta = m; d.SOPClassUID = m.MediaStorageSOPClassUID; d.SOPInstanceUID = m.MediaStorageSOPInstanceUID
    d.StudyInstanceUID, d.SeriesInstanceUID, d.PatientID, d.Modality = study, series, "BENCH", "CT"
    d.Rows = d.Columns = side; d.SamplesPerPixel = 1; d.PhotometricInterpretation = "MONOCHROME2"
    d.BitsAllocated = 16; d.BitsStored = 12; d.HighBit = 11; d.PixelRepresentation = 0; d.InstanceNumber = i + 1
    d.PixelData = rng.integers(0, 4096, (side, side), dtype=np.uint16).tobytes()
    d.is_little_endian, d.is_implicit_VR = True, False
    d.save_as(os.path.join(out, f"{i:05d}.dcm"), write_like_original=False)
print(study)
PY
study=$(/usr/bin/python3 -c "import pydicom,sys;print(pydicom.dcmread(sys.argv[1],stop_before_pixels=True).StudyInstanceUID)" "$work/seed/00000.dcm")
storescu -aec ORTHANC +sd "127.0.0.1" "$port" "$work/seed" >/dev/null
bytes=$(du -sb "$work/seed" | cut -f1)
rate() { /usr/bin/python3 -c "import sys;s=float(sys.argv[1]);print(f'{s:6.2f} s  {int(sys.argv[2])/s:7.1f} instances/s  {int(sys.argv[3])/1e6/s:7.1f} MB/s')" "$@"; }
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
echo "Orthanc on loopback, one study: $n instances of ${side}x${side} 16-bit, $((bytes / 1000000)) MB"
mkdir -p "$work/g1" "$work/g2"
t=$(timed getscu -aec ORTHANC -aet GETSCU -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$study" -od "$work/g1" 127.0.0.1 "$port")
echo "getscu (DCMTK)        : $(rate "$t" "$n" "$bytes")"
t=$(timed "$cli" pacs get --node "ORTHANC@127.0.0.1:$port" --study "$study" --project "$work/p1" --size 64)
echo "medsiam-cli pacs get  : $(rate "$t" "$n" "$bytes")   (includes importing every image into the project)"
t=$(timed movescu -aec ORTHANC -aet GETSCU -aem GETSCU --port "$movepeer" -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$study" -od "$work/g2" 127.0.0.1 "$port")
echo "movescu (DCMTK)       : $(rate "$t" "$n" "$bytes")"
t=$(timed "$cli" pacs get --move --port "$move" --node "ORTHANC@127.0.0.1:$port" --study "$study" --project "$work/p2" --size 64)
echo "medsiam-cli get --move: $(rate "$t" "$n" "$bytes")   (includes importing every image into the project)"
echo "files: getscu $(ls "$work/g1" | wc -l), medsiam $(find "$work/p1/pacs" -name '*.dcm' | wc -l), movescu $(ls "$work/g2" | wc -l), medsiam move $(find "$work/p2/pacs" -name '*.dcm' | wc -l)"
