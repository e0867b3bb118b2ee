// Project's index of runs and what is stored per run: the runs table (kind, state, name and
// notes), embeddings and predictions. The runs' folders are RunStore's (project/RunStore.h).
#include "project/Project.h"

#include "project/Database.h"

#include <nlohmann/json.hpp>
#include <set>

namespace medsiam::core {

void Project::recordRun(const RunRecord& run)
{
    m_db->prepare("INSERT INTO runs(id,kind,state,parent,config,summary) VALUES(?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                  "state=excluded.state, summary=excluded.summary, updated_at=datetime('now')")
        .bind(1, run.id)
        .bind(2, run.kind)
        .bind(3, run.state)
        .bind(4, run.parent)
        .bind(5, run.config)
        .bind(6, run.summary)
        .run();
}

#define RUN_COLUMNS "id,kind,state,parent,config,summary,created_at,updated_at,title,note"

namespace {
RunRecord runRecord(Database::Statement& s)
{
    return RunRecord{s.columnText(0), s.columnText(1), s.columnText(2), s.columnText(3), s.columnText(4),
                     s.columnText(5), s.columnText(6), s.columnText(7), s.columnText(8), s.columnText(9)};
}
} // namespace

std::vector<RunRecord> Project::runs()
{
    std::vector<RunRecord> out;
    auto s = m_db->prepare("SELECT " RUN_COLUMNS " FROM runs ORDER BY created_at,id");
    while (s.step())
        out.push_back(runRecord(s));
    return out;
}

std::optional<RunRecord> Project::run(const std::string& runId)
{
    auto s = m_db->prepare("SELECT " RUN_COLUMNS " FROM runs WHERE id=?");
    s.bind(1, runId);
    if (!s.step())
        return std::nullopt;
    return runRecord(s);
}

void Project::describeRun(const std::string& runId, const std::string& title, const std::string& note)
{
    m_db->prepare("UPDATE runs SET title=?, note=?, updated_at=datetime('now') WHERE id=?").bind(1, title).bind(2, note).bind(3, runId).run();
}

void Project::deleteRun(const std::string& runId)
{
    Database::Transaction tx(*m_db);
    for (const char* sql : {"DELETE FROM predictions WHERE run_id=?", "DELETE FROM embeddings WHERE run_id=?", "DELETE FROM runs WHERE id=?"})
        m_db->prepare(sql).bind(1, runId).run();
    tx.commit();
}

void Project::recordEmbeddings(const std::string& runId, int64_t checkpointStep, int64_t count, int64_t dims, int inputSize)
{
    m_db->prepare("INSERT INTO embeddings(run_id,checkpoint_step,count,dim,input_size) VALUES(?,?,?,?,?) ON CONFLICT(run_id) DO "
                  "UPDATE SET checkpoint_step=excluded.checkpoint_step, count=excluded.count, dim=excluded.dim, "
                  "input_size=excluded.input_size, created_at=datetime('now')")
        .bind(1, runId)
        .bind(2, checkpointStep)
        .bind(3, count)
        .bind(4, dims)
        .bind(5, inputSize)
        .run();
}

std::optional<std::pair<int64_t, int>> Project::embeddingsInfo(const std::string& runId)
{
    auto s = m_db->prepare("SELECT checkpoint_step, input_size FROM embeddings WHERE run_id=?");
    s.bind(1, runId);
    if (!s.step())
        return std::nullopt;
    return std::make_pair(s.columnInt(0), static_cast<int>(s.columnInt(1)));
}

void Project::storePredictions(const std::string& runId, const std::vector<PredictionRecord>& predictions)
{
    writePredictions(runId, predictions, true);
}

void Project::mergePredictions(const std::string& runId, const std::vector<PredictionRecord>& predictions)
{
    writePredictions(runId, predictions, false);
}

void Project::writePredictions(const std::string& runId, const std::vector<PredictionRecord>& predictions, bool replaceAll)
{
    Database::Transaction tx(*m_db);
    if (replaceAll)
        m_db->prepare("DELETE FROM predictions WHERE run_id=?").bind(1, runId).run();
    auto s = m_db->prepare("INSERT OR REPLACE INTO predictions(run_id,image_id,split,truth,probabilities) VALUES(?,?,?,?,?)");
    for (const auto& p : predictions) {
        std::string probs = "[";
        char buf[32];
        for (size_t i = 0; i < p.probabilities.size(); ++i) {
            std::snprintf(buf, sizeof buf, "%s%.6g", i ? "," : "", p.probabilities[i]);
            probs += buf;
        }
        probs += "]";
        s.bind(1, runId).bind(2, p.imageId).bind(3, p.split);
        if (p.truth >= 0)
            s.bind(4, p.truth);
        else
            s.bindNull(4);
        s.bind(5, probs).run();
    }
    tx.commit();
}

std::vector<PredictionRecord> Project::predictions(const std::string& runId)
{
    std::vector<PredictionRecord> out;
    auto s = m_db->prepare("SELECT image_id, split, truth, probabilities FROM predictions WHERE run_id=? ORDER BY image_id");
    s.bind(1, runId);
    while (s.step()) {
        PredictionRecord p;
        p.imageId = s.columnInt(0);
        p.split = s.columnText(1);
        p.truth = s.columnIsNull(2) ? -1 : static_cast<int>(s.columnInt(2));
        const auto probs = nlohmann::json::parse(s.columnText(3), nullptr, false);
        if (probs.is_array())
            for (const auto& v : probs)
                if (v.is_number())
                    p.probabilities.push_back(v.get<float>());
        out.push_back(std::move(p));
    }
    return out;
}

std::set<std::string> Project::runsWithPredictions()
{
    std::set<std::string> out;
    auto s = m_db->prepare("SELECT DISTINCT run_id FROM predictions");
    while (s.step())
        out.insert(s.columnText(0));
    return out;
}

} // namespace medsiam::core
