#include "report/RunReport.h"

#include "report/Plot.h"

#include "project/RunStore.h"
#include "train/RunSummary.h"
#include "eval/Metrics.h"
#include "io/NpyArray.h"
#include "project/Project.h"
#include "util/AtomicFile.h"
#include "util/Csv.h"
#include "util/Error.h"

#include <nlohmann/json.hpp>

#include <QFont>
#include <QFontMetricsF>
#include <QGuiApplication>
#include <QImage>
#include <QPainter>
#include <QPainterPath>
#include <QSvgGenerator>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

namespace medsiam::ui {

namespace fs = std::filesystem;
using core::UserError;

namespace {

void drawConfusion(QPainter& p, const QRectF& area, const QString& title, const std::vector<std::vector<int64_t>>& m,
                   const std::vector<std::string>& classes)
{
    const int k = static_cast<int>(m.size());
    drawTitle(p, area, title);
    const QRectF grid = area.adjusted(110, 60, -20, -40);
    const double cw = grid.width() / k, ch = grid.height() / k;
    for (int t = 0; t < k; ++t) {
        int64_t row = 0;
        for (int q = 0; q < k; ++q)
            row += m[t][q];
        for (int q = 0; q < k; ++q) {
            const double share = row ? double(m[t][q]) / double(row) : 0;
            const QRectF cell(grid.left() + q * cw, grid.top() + t * ch, cw, ch);
            p.fillRect(cell, QColor::fromRgbF(1 - 0.8 * share, 1 - 0.55 * share, 1 - 0.2 * share));
            p.setPen(Qt::gray);
            p.drawRect(cell);
            p.setPen(share > 0.6 ? Qt::white : Qt::black);
            p.drawText(cell, Qt::AlignCenter, QString("%1\n%2%").arg(m[t][q]).arg(share * 100, 0, 'f', 1));
        }
        p.setPen(Qt::black);
        p.drawText(QRectF(area.left(), grid.top() + t * ch, 105, ch), Qt::AlignRight | Qt::AlignVCenter,
                   QString::fromStdString(classes[static_cast<size_t>(t)]) + "  ");
        p.drawText(QRectF(grid.left() + t * cw, grid.top() - 20, cw, 18), Qt::AlignCenter, QString::fromStdString(classes[static_cast<size_t>(t)]));
    }
    p.drawText(QRectF(grid.left(), grid.top() - 40, grid.width(), 18), Qt::AlignCenter, "predicted");
    p.drawText(QRectF(area.left(), grid.bottom() + 8, grid.width() + 110, 18), Qt::AlignCenter, "rows: true class");
}

void drawScatter(QPainter& p, const QRectF& area, const QString& title, const std::vector<float>& xy, const std::vector<int>& label,
                 const std::vector<std::string>& classes)
{
    float x0 = 1e30f, x1 = -1e30f, y0 = 1e30f, y1 = -1e30f;
    for (size_t i = 0; i < xy.size() / 2; ++i) {
        x0 = std::min(x0, xy[2 * i]);
        x1 = std::max(x1, xy[2 * i]);
        y0 = std::min(y0, xy[2 * i + 1]);
        y1 = std::max(y1, xy[2 * i + 1]);
    }
    drawTitle(p, area, title);
    const QRectF box = area.adjusted(20, 40, -160, -20);
    const double side = std::min(box.width(), box.height());
    const QRectF plot(box.left() + (box.width() - side) / 2, box.top() + (box.height() - side) / 2, side, side);
    const float span = std::max({x1 - x0, y1 - y0, 1e-6f});
    // Centre the map in the square plot (one scale for both axes keeps distances honest).
    x0 -= (span - (x1 - x0)) / 2;
    y0 -= (span - (y1 - y0)) / 2;
    p.setPen(Qt::NoPen);
    // Unlabeled first (gray), then the classes, so colours stay visible.
    for (int pass = -1; pass < static_cast<int>(classes.size()); ++pass) {
        p.setBrush(pass < 0 ? QColor(170, 170, 170, 120) : plotColour(pass));
        for (size_t i = 0; i < label.size(); ++i) {
            if (label[i] != pass)
                continue;
            const double px = plot.left() + (xy[2 * i] - x0) / span * plot.width();
            const double py = plot.bottom() - (xy[2 * i + 1] - y0) / span * plot.height();
            p.drawEllipse(QPointF(px, py), 1.8, 1.8);
        }
    }
    double ly = box.top();
    for (int c = -1; c < static_cast<int>(classes.size()); ++c) {
        p.setBrush(c < 0 ? QColor(170, 170, 170) : plotColour(c));
        p.setPen(Qt::NoPen);
        p.drawEllipse(QPointF(box.right() + 25, ly + 8), 5, 5);
        p.setPen(Qt::black);
        p.drawText(QRectF(box.right() + 35, ly, 120, 16), Qt::AlignLeft | Qt::AlignVCenter,
                   c < 0 ? QString("unlabeled") : QString::fromStdString(classes[static_cast<size_t>(c)]));
        ly += 18;
    }
}

/// ROC points of scores against a binary truth, from (0,0) to (1,1).
std::vector<QPointF> rocPoints(const std::vector<int>& positive, const std::vector<float>& scores)
{
    std::vector<size_t> order(scores.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    int64_t pos = 0, neg = 0;
    for (int v : positive)
        (v ? pos : neg) += 1;
    std::vector<QPointF> pts{{0, 0}};
    int64_t tp = 0, fp = 0;
    for (size_t i = 0; i < order.size(); ++i) {
        (positive[order[i]] ? tp : fp) += 1;
        if (i + 1 == order.size() || scores[order[i + 1]] != scores[order[i]])
            pts.emplace_back(neg ? double(fp) / neg : 0, pos ? double(tp) / pos : 0);
    }
    return pts;
}

} // namespace

std::vector<std::string> writeRunReport(core::Project& project, const std::string& runId, const std::string& outDir)
{
    if (!QGuiApplication::instance())
        throw UserError("internal: the report needs a QGuiApplication");
    const core::RunStore store(project);
    store.require(runId);
    fs::create_directories(outDir);
    std::vector<std::string> written;
    std::vector<std::string> classes;
    for (const auto& c : project.classes())
        classes.push_back(c.name);

    // 1. Curves from metrics.jsonl.
    Series loss{"loss", {}, plotColour(0)}, knnAcc{"kNN accuracy", {}, plotColour(1)}, knnBal{"kNN balanced acc.", {}, plotColour(2)},
        valAuc{"val ROC AUC", {}, plotColour(3)}, valBal{"val balanced acc.", {}, plotColour(4)};
    using Type = core::MetricsRecord::Type;
    for (const auto& r : store.readMetrics(runId)) {
        const double step = double(r.step);
        if (r.type == Type::Step) {
            loss.points.emplace_back(step, r.loss);
        } else if (r.type == Type::Monitor) {
            knnAcc.points.emplace_back(step, r.knnAccuracy);
            knnBal.points.emplace_back(step, r.knnBalancedAccuracy);
        } else if (r.type == Type::Eval && r.split == "val") {
            if (std::isfinite(r.metrics.macroAuc))
                valAuc.points.emplace_back(step, r.metrics.macroAuc);
            valBal.points.emplace_back(step, r.metrics.balancedAccuracy);
        }
    }
    if (!loss.points.empty())
        renderFigure(outDir, "loss", {760, 420},
               [&](QPainter& p, const QRectF& a) { drawLinePlot(p, a, QString::fromStdString(runId) + ": training loss", "step", "loss", {loss}); },
               written);
    std::vector<Series> metricSeries;
    for (auto* s : {&knnAcc, &knnBal, &valAuc, &valBal})
        if (!s->points.empty())
            metricSeries.push_back(*s);
    if (!metricSeries.empty())
        renderFigure(outDir, "metrics", {760, 420},
               [&](QPainter& p, const QRectF& a) { drawLinePlot(p, a, QString::fromStdString(runId) + ": monitors", "step", "value", metricSeries, {true}); },
               written);

    // 2. Predictions: CSV, confusion matrices and ROC curves per split.
    std::map<std::string, std::vector<std::pair<int, std::vector<float>>>> bySplit;
    std::string csv = "image_id,split,truth";
    for (const auto& c : classes)
        csv += ",p_" + core::csvField(c);
    csv += "\n";
    for (const auto& pr : project.predictions(runId)) {
        csv += std::to_string(pr.imageId) + "," + pr.split + "," +
               (pr.truth >= 0 ? core::csvField(classes[static_cast<size_t>(pr.truth)]) : std::string());
        for (float v : pr.probabilities)
            csv += "," + std::to_string(v);
        csv += "\n";
        if (pr.truth >= 0 && pr.probabilities.size() == classes.size())
            bySplit[pr.split].emplace_back(pr.truth, pr.probabilities);
    }
    if (!bySplit.empty()) {
        core::writeFileAtomically(outDir + "/predictions.csv", csv);
        written.push_back(outDir + "/predictions.csv");
    }
    std::map<std::string, core::ClassificationMetrics> splitMetrics;
    for (const auto& [split, rows] : bySplit) {
        std::vector<int> truth;
        std::vector<float> flat;
        for (const auto& [t, probs] : rows) {
            truth.push_back(t);
            flat.insert(flat.end(), probs.begin(), probs.end());
        }
        const auto m = core::computeMetrics(truth, flat, static_cast<int>(classes.size()));
        splitMetrics.emplace(split, m);
        renderFigure(outDir, "confusion_" + split, {520, 460},
               [&](QPainter& p, const QRectF& a) {
                   drawConfusion(p, a, QString("confusion matrix: %1, %2 images").arg(QString::fromStdString(split)).arg(m.samples),
                                 m.confusion, classes);
               },
               written);
        std::vector<Series> roc;
        for (size_t c = 0; c < classes.size(); ++c) {
            if (classes.size() == 2 && c == 0)
                continue; // binary: one curve
            std::vector<int> positive;
            std::vector<float> scores;
            for (size_t i = 0; i < truth.size(); ++i) {
                positive.push_back(truth[i] == static_cast<int>(c));
                scores.push_back(flat[i * classes.size() + c]);
            }
            roc.push_back({QString("%1 (AUC %2)").arg(QString::fromStdString(classes[c])).arg(m.auc[c], 0, 'f', 3), rocPoints(positive, scores),
                           plotColour(static_cast<int>(c))});
        }
        roc.push_back({"chance", {{0, 0}, {1, 1}}, QColor(160, 160, 160)});
        renderFigure(outDir, "roc_" + split, {520, 460},
               [&](QPainter& p, const QRectF& a) {
                   drawLinePlot(p, a, QString("ROC: %1, %2 images").arg(QString::fromStdString(split)).arg(m.samples), "false positive rate",
                                "true positive rate", roc, {true});
               },
               written);
    }

    // 2b. The results in words: which checkpoint, the numbers per split, and the warnings next to them.
    if (!bySplit.empty()) {
        const auto summary = core::FinetuneSummary::read(store.readSummary(runId));
        std::string text = "run " + runId + "\n";
        if (summary.val || summary.test)
            text += "model: " + summary.selectionText() + "\n";
        char line[256];
        for (const char* split : {"val", "test", "train"}) {
            const auto it = splitMetrics.find(split);
            if (it == splitMetrics.end())
                continue;
            const auto& m = it->second;
            std::snprintf(line, sizeof line, "%-5s %5lld images  accuracy %.3f  balanced accuracy %.3f  ROC AUC %.3f\n", split,
                          static_cast<long long>(m.samples), m.accuracy, m.balancedAccuracy, m.macroAuc);
            text += line;
        }
        const auto warnings = core::classifierWarnings(splitMetrics, classes);
        for (const auto& w : warnings)
            text += "WARNING: " + w + "\n";
        core::writeFileAtomically(outDir + "/results.txt", text);
        written.push_back(outDir + "/results.txt");
    }

    // 3. The t-SNE map, when `tsne` has been run for this run.
    std::optional<core::StoredMap> map;
    if (store.hasEmbeddings(runId))
        map = store.loadMap(runId, false);
    if (map && !map->stale) {
        std::map<int64_t, int> labelOf;
        for (const auto& item : project.trainingItems())
            labelOf[item.imageId] = item.classIndex;
        const std::vector<float>& xy = map->layout;
        std::vector<int> label(map->imageIds.size());
        std::string tsv = "image_id,class,x,y\n";
        for (size_t i = 0; i < map->imageIds.size(); ++i) {
            const int64_t id = map->imageIds[i];
            label[i] = labelOf.count(id) ? labelOf[id] : -1;
            tsv += std::to_string(id) + "," + (label[i] >= 0 ? core::csvField(classes[static_cast<size_t>(label[i])]) : "") + "," +
                   std::to_string(xy[2 * i]) + "," + std::to_string(xy[2 * i + 1]) + "\n";
        }
        renderFigure(outDir, "tsne", {720, 600},
               [&](QPainter& p, const QRectF& a) { drawScatter(p, a, QString::fromStdString(runId) + ": t-SNE map by label", xy, label, classes); },
               written);
        core::writeFileAtomically(outDir + "/tsne.csv", tsv);
        written.push_back(outDir + "/tsne.csv");
    }
    if (written.empty())
        throw UserError("run '" + runId + "' has nothing to report yet (no metrics, predictions or map)");
    return written;
}

} // namespace medsiam::ui
