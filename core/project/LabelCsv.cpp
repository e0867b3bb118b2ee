#include "io/FileSniffer.h"
#include "io/ImageDecoder.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "project/SourceScanner.h"
#include "util/AtomicFile.h"
#include "util/Csv.h"
#include "util/Error.h"
#include "util/Text.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>

namespace fs = std::filesystem;

namespace medsiam::core {

namespace {

using KeyIndex = std::unordered_map<std::string, std::vector<int64_t>>;

std::string normalisePath(std::string p)
{
    std::replace(p.begin(), p.end(), '\\', '/');
    while (text::startsWith(p, "./"))
        p.erase(0, 2);
    return p;
}

struct LabelColumns {
    int key = -1;
    int label = -1;
    int split = -1;
};

// Column indices for the options; throws UserError naming a missing column and listing those present.
LabelColumns resolveColumns(const CsvTable& csv, const LabelCsvOptions& options)
{
    auto requireColumn = [&](const std::string& name, const char* role) {
        const int c = csv.column(name);
        if (c < 0) {
            std::string present;
            for (const auto& h : csv.header)
                present += (present.empty() ? "" : ", ") + h;
            throw UserError("label CSV '" + options.csvPath + "' has no " + role + " column '" + name + "' (columns: " + present + ")");
        }
        return c;
    };
    LabelColumns c;
    c.key = requireColumn(options.keyColumn, "key");
    c.label = options.labelColumn.empty() ? -1 : requireColumn(options.labelColumn, "label");
    c.split = options.splitColumn.empty() ? -1 : requireColumn(options.splitColumn, "split");
    if (c.label < 0 && c.split < 0)
        throw UserError("give a label column, a split column or both");
    return c;
}

// The key kind asked for, or for Auto the kind under which most rows' keys name an image.
template <typename Index, typename KeyOf>
LabelKeyKind resolveKeyKind(LabelKeyKind asked, const CsvTable& csv, const KeyOf& keyOf, const Index (&byKind)[5])
{
    if (asked != LabelKeyKind::Auto)
        return asked;
    size_t best = 0;
    LabelKeyKind kind = LabelKeyKind::RelativePath;
    for (LabelKeyKind k : {LabelKeyKind::RelativePath, LabelKeyKind::FileName, LabelKeyKind::SopInstanceUid, LabelKeyKind::PatientId}) {
        size_t hits = 0;
        for (const auto& row : csv.rows)
            hits += byKind[int(k)].count(keyOf(row));
        if (hits > best) {
            best = hits;
            kind = k;
        }
    }
    return kind;
}

} // namespace

void checkLabelCsv(const LabelCsvOptions& options) { resolveColumns(readCsv(options.csvPath), options); }

LabelImportResult applyLabelCsv(Project& project, const LabelCsvOptions& options)
{
    const CsvTable csv = readCsv(options.csvPath);
    const LabelColumns cols = resolveColumns(csv, options);
    const int keyCol = cols.key, labelCol = cols.label, splitCol = cols.split;

    KeyIndex byKind[5];
    {
        auto q = project.db().prepare("SELECT id, relative_path, source_path, sop_uid, patient_id, frame_index, frame_count FROM images");
        while (q.step()) {
            const int64_t id = q.columnInt(0);
            if (q.columnInt(6) > 1) // one frame of a multi-frame file or volume: "path#frame"
                byKind[int(LabelKeyKind::RelativePath)][normalisePath(q.columnText(1)) + "#" + std::to_string(q.columnInt(5))].push_back(id);
            byKind[int(LabelKeyKind::RelativePath)][normalisePath(q.columnText(1))].push_back(id);
            byKind[int(LabelKeyKind::RelativePath)][q.columnText(2)].push_back(id);
            byKind[int(LabelKeyKind::FileName)][fs::path(q.columnText(2)).filename().string()].push_back(id);
            if (!q.columnText(3).empty())
                byKind[int(LabelKeyKind::SopInstanceUid)][q.columnText(3)].push_back(id);
            if (!q.columnText(4).empty())
                byKind[int(LabelKeyKind::PatientId)][q.columnText(4)].push_back(id);
        }
    }
    auto keyOf = [&](const std::vector<std::string>& row) {
        return keyCol < static_cast<int>(row.size()) ? normalisePath(text::trim(row[keyCol])) : std::string();
    };

    LabelImportResult result;
    result.keyKind = resolveKeyKind(options.keyKind, csv, keyOf, byKind);
    const KeyIndex& index = byKind[int(result.keyKind)];
    const std::string csvName = fs::path(options.csvPath).filename().string();

    Database::Transaction tx(project.db());
    std::set<int64_t> labeled, split;
    for (size_t r = 0; r < csv.rows.size(); ++r) {
        const auto& row = csv.rows[r];
        const std::string where = options.csvPath + ":" + std::to_string(csv.rowLines[r]);
        ++result.rows;
        const std::string key = keyOf(row);
        auto cell = [&](int c) { return c >= 0 && c < static_cast<int>(row.size()) ? text::trim(row[c]) : std::string(); };
        if (key.empty()) {
            result.rowProblems.push_back(csvName + " line " + std::to_string(csv.rowLines[r]) + ": empty key");
            project.recordIssue(where, "label CSV row with an empty key");
            continue;
        }
        auto it = index.find(key);
        if (it == index.end()) {
            result.unmatchedKeys.push_back(key);
            project.recordIssue(where, "label key '" + key + "' matches no image in the project (matched by " +
                                           labelKeyKindName(result.keyKind) + ")");
            continue;
        }
        const std::string label = cell(labelCol);
        const std::string splitValue = cell(splitCol);
        const std::string splitName = splitValue.empty() ? std::string() : normaliseSplit(splitValue);
        if (!splitValue.empty() && splitName.empty()) {
            result.rowProblems.push_back(csvName + " line " + std::to_string(csv.rowLines[r]) + ": unknown split '" + splitValue + "'");
            project.recordIssue(where, "unknown split '" + splitValue + "' (use train, val or test)");
        }
        ++result.matchedRows;
        project.clearIssue(where);
        const int64_t classId = label.empty() ? 0 : project.ensureClass(label);
        for (int64_t id : it->second) {
            if (classId) {
                project.setLabel(id, classId, "csv");
                labeled.insert(id);
            }
            if (!splitName.empty()) {
                project.setSplit(id, splitName);
                split.insert(id);
            }
        }
    }
    tx.commit();
    result.imagesLabeled = labeled.size();
    result.imagesSplit = split.size();
    return result;
}

LabelCsvPreview previewLabelCsv(const LabelCsvOptions& options, const std::vector<std::string>& sources, Project* project,
                                size_t listLimit)
{
    const CsvTable csv = readCsv(options.csvPath);
    const LabelColumns cols = resolveColumns(csv, options);
    std::set<std::string> byKind[5];
    // DICOM keys are read from the headers (not the pixels), so that the preview matches as the
    // import will: by what the files say, not only by what the project holds already.
    const bool dicomKeys = options.keyKind == LabelKeyKind::Auto || options.keyKind == LabelKeyKind::SopInstanceUid ||
                           options.keyKind == LabelKeyKind::PatientId;
    const ImageDecoder* dicom = DecoderRegistry::instance().find(ImageFormat::Dicom);
    for (const ScannedFile& f : scanSources(sources, project ? project->dir() : std::string()).files) {
        byKind[int(LabelKeyKind::RelativePath)].insert(normalisePath(f.relativePath));
        byKind[int(LabelKeyKind::RelativePath)].insert(f.path);
        byKind[int(LabelKeyKind::FileName)].insert(fs::path(f.path).filename().string());
        if (dicomKeys && dicom && sniffFile(f.path).format == ImageFormat::Dicom) {
            const ImageDecoder::Identity id = dicom->readIdentity(f.path);
            if (!id.sopUid.empty())
                byKind[int(LabelKeyKind::SopInstanceUid)].insert(id.sopUid);
            if (!id.patientId.empty())
                byKind[int(LabelKeyKind::PatientId)].insert(id.patientId);
        }
    }
    if (project) {
        auto q = project->db().prepare("SELECT relative_path, source_path, sop_uid, patient_id FROM images");
        while (q.step()) {
            byKind[int(LabelKeyKind::RelativePath)].insert(normalisePath(q.columnText(0)));
            byKind[int(LabelKeyKind::RelativePath)].insert(q.columnText(1));
            byKind[int(LabelKeyKind::FileName)].insert(fs::path(q.columnText(1)).filename().string());
            if (!q.columnText(2).empty())
                byKind[int(LabelKeyKind::SopInstanceUid)].insert(q.columnText(2));
            if (!q.columnText(3).empty())
                byKind[int(LabelKeyKind::PatientId)].insert(q.columnText(3));
        }
    }
    auto keyOf = [&](const std::vector<std::string>& row) {
        return cols.key < static_cast<int>(row.size()) ? normalisePath(text::trim(row[cols.key])) : std::string();
    };
    LabelCsvPreview out;
    out.keyKind = resolveKeyKind(options.keyKind, csv, keyOf, byKind);
    if ((out.keyKind == LabelKeyKind::SopInstanceUid || out.keyKind == LabelKeyKind::PatientId) && !dicom)
        out.note = "this build reads no DICOM: only images already in the project are checked";
    const auto& index = byKind[int(out.keyKind)];
    for (const auto& row : csv.rows) {
        const std::string key = keyOf(row);
        ++out.rows;
        // A multi-frame key "path#3" matches its file.
        const size_t hash = key.rfind('#');
        const bool hit = index.count(key) || (hash != std::string::npos && index.count(key.substr(0, hash)));
        if (hit) {
            ++out.matchedRows;
            if (out.matchedKeys.size() < listLimit)
                out.matchedKeys.push_back(key);
        } else if (out.unmatchedKeys.size() < listLimit) {
            out.unmatchedKeys.push_back(key.empty() ? std::string("(empty key)") : key);
        }
    }
    return out;
}

size_t exportLabelCsv(Project& project, const std::string& path)
{
    std::map<int64_t, std::string> className;
    for (const auto& c : project.classes())
        className[c.id] = c.name;
    std::string out = "image,label,split,patient_id,sop_uid\n";
    size_t rows = 0;
    for (const CatalogueRow& r : project.catalogue()) {
        if (r.classId < 0)
            continue;
        const std::string key = r.frameCount > 1 ? r.relativePath + "#" + std::to_string(r.frameIndex) : r.relativePath;
        out += csvField(key) + "," + csvField(className[r.classId]) + "," + csvField(r.split) + "," + csvField(r.patientId) + "," +
               csvField(r.sopUid) + "\n";
        ++rows;
    }
    writeFileAtomically(path, out);
    return rows;
}

} // namespace medsiam::core
