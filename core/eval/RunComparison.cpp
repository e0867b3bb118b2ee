#include "eval/RunComparison.h"

#include "project/Project.h"
#include "project/RunStore.h"
#include "train/RunSummary.h"
#include "util/Csv.h"
#include "util/Error.h"
#include "util/Text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

namespace medsiam::core {

namespace {

std::string csvRow(const std::vector<std::string>& fields)
{
    std::string out;
    for (size_t i = 0; i < fields.size(); ++i)
        out += (i ? "," : "") + csvField(fields[i]);
    return out;
}

/// A value's spelling on the command line and in files, and its words on a plot.
template <typename T>
struct Named {
    T value;
    const char* name;
    const char* words;
};
const Named<CurveMetric> kMetrics[] = {
    {CurveMetric::Loss, "loss", "training loss"},
    {CurveMetric::KnnBalancedAccuracy, "knn_balanced_accuracy", "kNN balanced accuracy (val)"},
    {CurveMetric::KnnAccuracy, "knn_accuracy", "kNN accuracy (val)"},
    {CurveMetric::ValBalancedAccuracy, "val_balanced_accuracy", "balanced accuracy (val)"},
    {CurveMetric::ValAuc, "val_auc", "ROC AUC (val)"},
    {CurveMetric::CollapseStd, "collapse", "output std (collapse monitor)"},
};
const Named<CurveAxis> kAxes[] = {
    {CurveAxis::Step, "step", "step"},
    {CurveAxis::Epoch, "epoch", "epoch"},
    {CurveAxis::Images, "images", "images seen"},
    {CurveAxis::Seconds, "seconds", "training time (s)"},
};

template <typename T, size_t N>
const Named<T>& entryOf(const Named<T> (&table)[N], T value)
{
    for (const auto& e : table)
        if (e.value == value)
            return e;
    return table[0]; // every enumerator is in its table
}

template <typename T, size_t N>
T parseIn(const Named<T> (&table)[N], const std::string& text, const char* what)
{
    std::string names;
    for (const auto& e : table) {
        if (text == e.name)
            return e.value;
        names += std::string(names.empty() ? "" : ", ") + e.name;
    }
    throw UserError("unknown " + std::string(what) + " \"" + text + "\"; choose one of " + names);
}

template <typename T, size_t N>
std::vector<T> valuesOf(const Named<T> (&table)[N])
{
    std::vector<T> out;
    for (const auto& e : table)
        out.push_back(e.value);
    return out;
}

void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, std::string>& out)
{
    if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it)
            flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
        return;
    }
    if (j.is_string())
        out[prefix] = j.get<std::string>();
    else if (j.is_number_float())
        out[prefix] = text::formatNumber(j.get<double>());
    else
        out[prefix] = j.dump();
}

void putFinals(const nlohmann::json& summary, const std::string& json, std::map<std::string, double>& f)
{
    auto num = [&](const char* key, const char* name) {
        if (summary.contains(key) && summary[key].is_number())
            f[name] = summary[key].get<double>();
    };
    num("steps_done", "steps");
    num("seconds", "seconds");
    num("final_loss", "final_loss");
    if (summary.contains("knn") && summary["knn"].is_object()) {
        const auto& k = summary["knn"];
        if (k.contains("accuracy") && k["accuracy"].is_number())
            f["knn_accuracy"] = k["accuracy"].get<double>();
        if (k.contains("balanced_accuracy") && k["balanced_accuracy"].is_number())
            f["knn_balanced_accuracy"] = k["balanced_accuracy"].get<double>();
    }
    const FinetuneSummary s = FinetuneSummary::read(json);
    auto metrics = [&](const std::optional<ClassificationMetrics>& m, const std::string& split) {
        if (!m)
            return;
        if (!std::isnan(m->macroAuc))
            f[split + "_auc"] = m->macroAuc;
        f[split + "_balanced_accuracy"] = m->balancedAccuracy;
        f[split + "_accuracy"] = m->accuracy;
    };
    metrics(s.val, "val");
    metrics(s.test, "test");
}

} // namespace

const char* toString(CurveMetric metric) { return entryOf(kMetrics, metric).name; }
const char* toString(CurveAxis axis) { return entryOf(kAxes, axis).name; }
std::string describe(CurveMetric metric) { return entryOf(kMetrics, metric).words; }
std::string describe(CurveAxis axis) { return entryOf(kAxes, axis).words; }
CurveMetric parseCurveMetric(const std::string& text) { return parseIn(kMetrics, text, "curve"); }
CurveAxis parseCurveAxis(const std::string& text) { return parseIn(kAxes, text, "x axis"); }
std::vector<CurveMetric> allCurveMetrics() { return valuesOf(kMetrics); }
std::vector<CurveAxis> allCurveAxes() { return valuesOf(kAxes); }

double CurvePoint::x(CurveAxis axis) const
{
    switch (axis) {
    case CurveAxis::Step: return double(step);
    case CurveAxis::Epoch: return epoch;
    case CurveAxis::Images: return images;
    case CurveAxis::Seconds: return seconds;
    }
    return double(step);
}

std::vector<std::string> finalMetricNames()
{
    return {"steps", "seconds", "final_loss", "knn_accuracy", "knn_balanced_accuracy", "val_auc", "val_balanced_accuracy",
            "val_accuracy", "test_auc", "test_balanced_accuracy", "test_accuracy"};
}

bool Comparison::differs(const std::string& key) const
{
    return std::find(differing.begin(), differing.end(), key) != differing.end();
}

bool Comparison::hasCurve(CurveMetric metric, CurveAxis axis) const
{
    for (const auto& r : runs) {
        const auto it = r.curves.find(metric);
        if (it == r.curves.end())
            continue;
        for (const auto& p : it->second)
            if (axis != CurveAxis::Seconds || p.seconds >= 0)
                return true;
    }
    return false;
}

std::string Comparison::tableCsv() const
{
    std::ostringstream out;
    std::vector<std::string> header{"what", "differs"};
    for (const auto& r : runs)
        header.push_back(r.label);
    out << csvRow(header) << '\n';
    auto settingRow = [&](const std::string& key) {
        std::vector<std::string> row{key, differs(key) ? "yes" : ""};
        for (const auto& r : runs) {
            const auto it = r.settings.find(key);
            row.push_back(it == r.settings.end() ? "" : it->second);
        }
        out << csvRow(row) << '\n';
    };
    settingRow("run");
    settingRow("kind");
    for (const auto& k : differing)
        if (k != "run" && k != "kind")
            settingRow(k);
    for (const auto& k : settingKeys)
        if (!differs(k) && k != "run" && k != "kind")
            settingRow(k);
    for (const auto& name : finalMetricNames()) {
        bool any = false;
        std::vector<std::string> row{"result." + name, ""};
        for (const auto& r : runs) {
            const auto it = r.finals.find(name);
            any = any || it != r.finals.end();
            row.push_back(it == r.finals.end() ? "" : text::formatNumber(it->second));
        }
        if (any)
            out << csvRow(row) << '\n';
    }
    return out.str();
}

std::string Comparison::curvesCsv() const
{
    std::ostringstream out;
    out << "run,metric,step,epoch,images,seconds,value\n";
    for (const auto& r : runs)
        for (const auto& [metric, points] : r.curves)
            for (const auto& p : points)
                out << csvRow({r.label, toString(metric), std::to_string(p.step), text::formatNumber(p.epoch),
                                       text::formatNumber(p.images), p.seconds >= 0 ? text::formatNumber(p.seconds) : "",
                                       text::formatNumber(p.value)})
                    << '\n';
    return out.str();
}

Comparison compareRuns(Project& project, const std::vector<std::string>& runIds)
{
    if (runIds.empty())
        throw UserError("name at least one run to compare (see `medsiam-cli runs`)");
    RunStore store(project);
    Comparison c;
    std::set<std::string> keys;
    for (const auto& id : runIds) {
        const auto record = store.find(id);
        if (!record)
            throw UserError("no run \"" + id + "\" in this project (see `medsiam-cli runs`)");
        ComparedRun r;
        r.id = r.label = id;
        r.kind = record->kind;
        r.state = record->state;
        const auto config = nlohmann::json::parse(store.readConfig(id), nullptr, false);
        if (config.is_object())
            flatten(config, "", r.settings);
        r.settings["run"] = id;
        r.settings["kind"] = record->kind;
        const std::string summaryJson = store.readSummary(id);
        const auto summary = nlohmann::json::parse(summaryJson, nullptr, false);
        if (summary.is_object())
            putFinals(summary, summaryJson, r.finals);

        // Curves. The batch turns steps into images; the first step of epoch 1 gives the steps
        // per epoch, so that the epoch axis is fractional (monitors fall between epochs too).
        const int64_t batch = config.is_object() && config.contains("batch") && config["batch"].is_number_integer()
                                  ? std::max<int64_t>(1, config["batch"].get<int64_t>())
                                  : 1;
        const auto records = store.readMetrics(id);
        int64_t perEpoch = 0;
        const double imagesPerEpoch = summary.is_object() && summary.contains("images_per_epoch") && summary["images_per_epoch"].is_number()
                                          ? summary["images_per_epoch"].get<double>()
                                          : 0;
        std::map<int64_t, double> secondsAt;
        for (const auto& m : records)
            if (m.type == MetricsRecord::Type::Step) {
                if (perEpoch == 0 && m.epoch >= 1)
                    perEpoch = std::max<int64_t>(1, (m.step - 1) / m.epoch);
                if (m.seconds >= 0)
                    secondsAt[m.step] = m.seconds;
            }
        auto point = [&](const MetricsRecord& m, double value) {
            CurvePoint p;
            p.step = m.step;
            p.images = double(m.step) * double(batch);
            p.epoch = imagesPerEpoch > 0 ? p.images / imagesPerEpoch : perEpoch > 0 ? double(m.step) / double(perEpoch) : double(m.epoch);
            p.seconds = m.seconds;
            if (p.seconds < 0) {
                const auto it = secondsAt.find(m.step);
                if (it != secondsAt.end())
                    p.seconds = it->second;
                else if (m.step == 0)
                    p.seconds = 0;
            }
            p.value = value;
            return p;
        };
        for (const auto& m : records) {
            switch (m.type) {
            case MetricsRecord::Type::Step:
                r.curves[CurveMetric::Loss].push_back(point(m, m.loss));
                if (m.collapseStd >= 0)
                    r.curves[CurveMetric::CollapseStd].push_back(point(m, m.collapseStd));
                break;
            case MetricsRecord::Type::Monitor:
                r.curves[CurveMetric::KnnBalancedAccuracy].push_back(point(m, m.knnBalancedAccuracy));
                r.curves[CurveMetric::KnnAccuracy].push_back(point(m, m.knnAccuracy));
                break;
            case MetricsRecord::Type::Eval:
                if (m.split != "val")
                    break;
                r.curves[CurveMetric::ValBalancedAccuracy].push_back(point(m, m.metrics.balancedAccuracy));
                if (!std::isnan(m.metrics.macroAuc))
                    r.curves[CurveMetric::ValAuc].push_back(point(m, m.metrics.macroAuc));
                break;
            default: break;
            }
        }
        for (const auto& [k, v] : r.settings)
            keys.insert(k);
        c.runs.push_back(std::move(r));
    }
    c.settingKeys.assign(keys.begin(), keys.end());
    for (const auto& k : c.settingKeys) {
        if (k == "run")
            continue;
        std::set<std::string> values;
        for (const auto& r : c.runs) {
            const auto it = r.settings.find(k);
            values.insert(it == r.settings.end() ? std::string("\x01(none)") : it->second);
        }
        if (values.size() > 1)
            c.differing.push_back(k);
    }
    return c;
}

} // namespace medsiam::core
