#include "project/RunStore.h"

#include "io/NpyArray.h"
#include "util/AtomicFile.h"
#include "util/Error.h"
#include "util/Text.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace fs = std::filesystem;

namespace medsiam::core {

// ---------------------------------------------------------------------------------------------
// metrics.jsonl

std::string MetricsRecord::toJson() const
{
    nlohmann::ordered_json j;
    auto metricsJson = [&] { return nlohmann::json::parse(metrics.toJson()); };
    switch (type) {
    case Type::Step:
        j = {{"type", "step"}, {"step", step}, {"epoch", epoch}, {"loss", loss}, {"lr", lr}, {"img_s", imagesPerSecond}};
        if (collapseStd >= 0)
            j["collapse_std"] = collapseStd;
        if (mixupLambda != 1)
            j["mixup_lambda"] = mixupLambda;
        break;
    case Type::Monitor:
        j = {{"type", "knn"}, {"step", step}, {"epoch", epoch}, {"accuracy", knnAccuracy}, {"balanced_accuracy", knnBalancedAccuracy},
             {"bank", bank}, {"queries", queries}};
        break;
    case Type::Eval:
        j = {{"type", "eval"}, {"step", step}, {"epoch", epoch}, {"split", split}};
        j["metrics"] = metricsJson();
        break;
    case Type::ProbeL2:
        j = {{"type", "probe-l2"}, {"l2", l2}};
        j["val"] = metricsJson();
        break;
    case Type::Unknown:
        j = {{"type", "unknown"}};
        break;
    }
    if (seconds >= 0)
        j["t"] = std::round(seconds * 1000) / 1000;
    return j.dump();
}

std::optional<MetricsRecord> MetricsRecord::fromJson(const std::string& line)
{
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object())
        return std::nullopt;
    MetricsRecord r;
    try {
        const std::string type = j.value("type", "");
        r.step = j.value("step", int64_t(0));
        r.epoch = j.value("epoch", int64_t(0));
        r.seconds = j.value("t", -1.0);
        if (type == "step") {
            r.type = Type::Step;
            r.loss = j.value("loss", 0.0);
            r.lr = j.value("lr", 0.0);
            r.imagesPerSecond = j.value("img_s", 0.0);
            r.collapseStd = j.value("collapse_std", -1.0);
            r.mixupLambda = j.value("mixup_lambda", 1.0);
        } else if (type == "knn") {
            r.type = Type::Monitor;
            r.knnAccuracy = j.value("accuracy", 0.0);
            r.knnBalancedAccuracy = j.value("balanced_accuracy", 0.0);
            r.bank = j.value("bank", int64_t(0));
            r.queries = j.value("queries", int64_t(0));
        } else if (type == "eval") {
            r.type = Type::Eval;
            r.split = j.value("split", "");
            if (j.contains("metrics"))
                r.metrics = ClassificationMetrics::fromJson(j["metrics"].dump());
        } else if (type == "probe-l2") {
            r.type = Type::ProbeL2;
            r.l2 = j.value("l2", 0.0);
            if (j.contains("val"))
                r.metrics = ClassificationMetrics::fromJson(j["val"].dump());
        }
    } catch (const std::exception&) {
        return std::nullopt; // a field of the wrong type: not a record medsiam wrote
    }
    return r;
}

MetricsLog::MetricsLog(const std::string& path, int64_t resumeStep) : m_path(path)
{
    // Keep the records up to the step the run goes on from.
    std::string kept;
    {
        std::ifstream in(path);
        std::string line;
        while (std::getline(in, line)) {
            const auto r = MetricsRecord::fromJson(line);
            if (!r || (r->type != MetricsRecord::Type::ProbeL2 && r->step > resumeStep))
                continue;
            kept += line + "\n";
        }
    }
    if (fs::exists(path))
        writeFileAtomically(path, kept);
    m_out.open(path, std::ios::app);
    if (!m_out)
        throw UserError("cannot write " + path);
}

void MetricsLog::append(const MetricsRecord& record)
{
    m_out << record.toJson() << "\n" << std::flush;
    if (!m_out)
        throw DiskFullError("cannot write " + m_path + " (is the disk full?)");
}

// ---------------------------------------------------------------------------------------------
// RunStore

std::string RunStore::dir(const std::string& runId) const { return m_project.dir() + "/runs/" + runId; }
std::string RunStore::configPath(const std::string& runId) const { return dir(runId) + "/config.json"; }
std::string RunStore::metricsPath(const std::string& runId) const { return dir(runId) + "/metrics.jsonl"; }
std::string RunStore::summaryPath(const std::string& runId) const { return dir(runId) + "/summary.json"; }
std::string RunStore::checkpointPath(const std::string& runId, bool best) const
{
    return dir(runId) + (best ? "/checkpoints/best.safetensors" : "/checkpoints/last.safetensors");
}
std::string RunStore::embeddingsPath(const std::string& runId) const { return dir(runId) + "/embeddings.npy"; }
std::string RunStore::embeddingIdsPath(const std::string& runId) const { return dir(runId) + "/embedding_ids.npy"; }
std::string RunStore::mapPath(const std::string& runId, bool pca) const { return dir(runId) + (pca ? "/pca.npy" : "/tsne.npy"); }

std::string RunStore::create(const std::string& prefix, const std::string& kind, const std::string& configJson, const std::string& parent)
{
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    std::string id = prefix + "-" + buf;
    std::error_code ec;
    for (int k = 2; fs::exists(dir(id), ec) || m_project.run(id); ++k)
        id = prefix + "-" + buf + "-" + std::to_string(k);
    fs::create_directories(dir(id) + "/checkpoints", ec);
    if (ec)
        throw UserError("cannot create the run folder '" + dir(id) + "': " + ec.message());
    writeFileAtomically(configPath(id), configJson + "\n");
    m_project.recordRun({id, kind, "queued", parent, configJson, "{}", "", "", "", ""});
    return id;
}

bool RunStore::exists(const std::string& runId) const
{
    std::error_code ec;
    return !runId.empty() && runId.find('/') == std::string::npos && fs::exists(configPath(runId), ec);
}

void RunStore::require(const std::string& runId) const
{
    if (!exists(runId))
        throw UserError("no run '" + runId + "' in " + m_project.dir() + " (see `medsiam-cli runs`)");
}

std::string RunStore::readConfig(const std::string& runId) const
{
    require(runId);
    return readWholeFile(configPath(runId));
}

bool RunStore::hasCheckpoint(const std::string& runId) const
{
    std::error_code ec;
    return fs::exists(checkpointPath(runId), ec);
}

std::string RunStore::lastCheckpoint(const std::string& runId) const
{
    require(runId);
    if (!hasCheckpoint(runId))
        throw UserError("run '" + runId + "' has no checkpoint yet");
    return checkpointPath(runId);
}

std::string RunStore::selectedCheckpoint(const std::string& runId) const
{
    const std::string last = lastCheckpoint(runId);
    std::error_code ec;
    if (!fs::exists(checkpointPath(runId, true), ec))
        return last;
    try {
        const auto summary = nlohmann::json::parse(readSummary(runId));
        if (summary.contains("selected") && summary["selected"].value("checkpoint", "") == "best")
            return checkpointPath(runId, true);
    } catch (const std::exception&) {
        // An unreadable summary: the last checkpoint, which always exists.
    }
    return last;
}

void RunStore::writeConfig(const std::string& runId, const std::string& json)
{
    require(runId);
    writeFileAtomically(configPath(runId), json + "\n");
}

void RunStore::writeSummary(const std::string& runId, const std::string& json) { writeFileAtomically(summaryPath(runId), json + "\n"); }

std::string RunStore::readSummary(const std::string& runId) const
{
    std::error_code ec;
    if (!fs::exists(summaryPath(runId), ec))
        return "{}";
    return readWholeFile(summaryPath(runId));
}

std::vector<MetricsRecord> RunStore::readMetrics(const std::string& runId) const
{
    std::vector<MetricsRecord> out;
    std::ifstream in(metricsPath(runId));
    std::string line;
    while (std::getline(in, line))
        if (auto r = MetricsRecord::fromJson(line))
            out.push_back(std::move(*r));
    return out;
}

MetricsLog RunStore::openMetrics(const std::string& runId, int64_t resumeStep) const { return MetricsLog(metricsPath(runId), resumeStep); }

void RunStore::remove(const std::string& runId)
{
    const auto record = m_project.run(runId);
    if (!record && !exists(runId))
        throw UserError("no run '" + runId + "' in " + m_project.dir() + " (see `medsiam-cli runs`)");
    const auto held = lock(runId); // refuses while it trains
    m_project.deleteRun(runId);
    std::error_code ec;
    fs::remove_all(dir(runId), ec);
    if (ec)
        throw UserError("the run's record is deleted but its folder '" + dir(runId) + "' could not be: " + ec.message());
}

namespace {

/// "running" corrected to "interrupted" when no process holds the run's lock any more.
RunRecord live(const RunStore& store, RunRecord r)
{
    if ((r.state == "running" || r.state == "cancelling") && !FileLock::currentOwner(store.dir(r.id) + "/run.lock"))
        r.state = "interrupted";
    return r;
}

} // namespace

void RunStore::describe(const std::string& runId, const std::string& title, const std::string& note)
{
    require(runId);
    const std::string t = text::trim(title);
    if (t.size() > 200)
        throw UserError("a run's name can have at most 200 characters (this one has " + std::to_string(t.size()) + ")");
    if (t.find_first_of("\r\n") != std::string::npos)
        throw UserError("a run's name is one line; put the rest in its notes");
    // Also beside the run's files, so that a project rebuilt from its run folders keeps them.
    writeFileAtomically(notesPath(runId), nlohmann::json{{"title", t}, {"note", note}}.dump(2) + "\n");
    m_project.describeRun(runId, t, note);
}

std::string RunStore::notesPath(const std::string& runId) const { return dir(runId) + "/notes.json"; }

std::vector<RunRecord> RunStore::list()
{
    auto runs = m_project.runs();
    for (auto& r : runs)
        r = live(*this, std::move(r));
    return runs;
}

std::optional<RunRecord> RunStore::find(const std::string& runId)
{
    auto r = m_project.run(runId);
    if (r)
        *r = live(*this, std::move(*r));
    return r;
}

std::shared_ptr<FileLock> RunStore::lock(const std::string& runId)
{
    std::error_code ec;
    fs::create_directories(dir(runId), ec);
    LockOwner owner;
    auto held = FileLock::tryAcquire(dir(runId) + "/run.lock", false, &owner);
    if (!held)
        throw UserError("run '" + runId + "' is already training in " + owner.describe() + "; stop it there first");
    return held;
}

void RunStore::saveEmbeddings(const EmbeddingSet& set)
{
    const int64_t n = set.count();
    if (static_cast<int64_t>(set.vectors.size()) != n * set.dims)
        throw UserError("internal: embeddings of " + std::to_string(n) + " x " + std::to_string(set.dims) + " with " +
                        std::to_string(set.vectors.size()) + " values");
    saveFloatNpy(embeddingsPath(set.runId), set.vectors.data(), {n, set.dims});
    NpyArray ids;
    ids.kind = 'i';
    ids.itemSize = 8;
    ids.shape = {n};
    ids.data.resize(static_cast<size_t>(n) * 8);
    if (n)
        std::memcpy(ids.data.data(), set.imageIds.data(), ids.data.size());
    saveNpyFile(embeddingIdsPath(set.runId), ids);
    m_project.recordEmbeddings(set.runId, set.checkpointStep, n, set.dims, set.inputSize);
}

bool RunStore::hasEmbeddings(const std::string& runId) const { return m_project.embeddingsInfo(runId).has_value(); }

EmbeddingSet RunStore::loadEmbeddings(const std::string& runId) const
{
    const auto info = m_project.embeddingsInfo(runId);
    if (!info)
        throw UserError("run '" + runId + "' has no stored embeddings; compute them with `medsiam-cli embed " + m_project.dir() + " " +
                        runId + "`");
    EmbeddingSet set;
    set.runId = runId;
    set.checkpointStep = info->first;
    set.inputSize = info->second;
    const NpyArray v = loadNpyFile(embeddingsPath(runId)), ids = loadNpyFile(embeddingIdsPath(runId));
    if (v.shape.size() != 2 || v.kind != 'f' || v.itemSize != 4 || ids.shape.size() != 1 || ids.shape[0] != v.shape[0])
        throw UserError("the stored embeddings of run '" + runId + "' are damaged; compute them again with `medsiam-cli embed`");
    set.dims = v.shape[1];
    set.vectors.resize(static_cast<size_t>(v.elementCount()));
    if (!set.vectors.empty())
        std::memcpy(set.vectors.data(), v.data.data(), v.data.size());
    for (int64_t i = 0; i < ids.shape[0]; ++i)
        set.imageIds.push_back(ids.asInt(i));
    return set;
}

void RunStore::saveMap(const std::string& runId, bool pca, const std::vector<float>& layout) const
{
    saveFloatNpy(mapPath(runId, pca), layout.data(), {static_cast<int64_t>(layout.size() / 2), 2});
}

std::optional<StoredMap> RunStore::loadMap(const std::string& runId, bool pca) const
{
    const std::string path = mapPath(runId, pca);
    std::error_code ec;
    if (!fs::exists(path, ec))
        return std::nullopt;
    const NpyArray xy = loadNpyFile(path), ids = loadNpyFile(embeddingIdsPath(runId));
    StoredMap map;
    if (ids.shape.size() != 1 || xy.shape.size() != 2 || xy.shape[1] != 2 || xy.shape[0] != ids.shape[0]) {
        map.stale = true;
        return map;
    }
    map.imageIds.resize(static_cast<size_t>(ids.shape[0]));
    for (int64_t i = 0; i < ids.shape[0]; ++i)
        map.imageIds[static_cast<size_t>(i)] = ids.asInt(i);
    map.layout.resize(static_cast<size_t>(xy.elementCount()));
    for (int64_t i = 0; i < xy.elementCount(); ++i)
        map.layout[static_cast<size_t>(i)] = static_cast<float>(xy.asDouble(i));
    return map;
}

} // namespace medsiam::core
