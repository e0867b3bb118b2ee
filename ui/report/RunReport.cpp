#include "report/RunReport.h"

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

const QColor kPalette[] = {QColor(31, 119, 180), QColor(214, 39, 40), QColor(44, 160, 44), QColor(255, 127, 14),
                           QColor(148, 103, 189), QColor(140, 86, 75), QColor(227, 119, 194), QColor(23, 190, 207)};
QColor colour(int i) { return kPalette[static_cast<size_t>(i) % (sizeof kPalette / sizeof kPalette[0])]; }

/// The plot's title, bold at the top of `area`; leaves the painter in black, 9 pt, for labels.
void drawTitle(QPainter& p, const QRectF& area, const QString& title)
{
    QFont f = p.font();
    f.setPointSizeF(11);
    f.setBold(true);
    p.setFont(f);
    p.setPen(Qt::black);
    p.drawText(QRectF(area.left(), area.top() + 5, area.width(), 25), Qt::AlignCenter, title);
    f.setBold(false);
    f.setPointSizeF(9);
    p.setFont(f);
}

struct Series {
    QString name;
    std::vector<QPointF> points;
    QColor colour;
};

/// Axes with ticks, a title, axis labels and line series in [xmin, xmax] x [ymin, ymax].
void drawLinePlot(QPainter& p, const QRectF& area, const QString& title, const QString& xLabel, const QString& yLabel,
                  const std::vector<Series>& series, bool fixedUnitY = false)
{
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (const auto& s : series)
        for (const auto& pt : s.points) {
            x0 = std::min(x0, pt.x());
            x1 = std::max(x1, pt.x());
            y0 = std::min(y0, pt.y());
            y1 = std::max(y1, pt.y());
        }
    if (fixedUnitY) {
        y0 = 0;
        y1 = 1;
    }
    if (x0 >= x1) {
        x0 -= 1;
        x1 += 1;
    }
    if (y0 >= y1) {
        y0 -= 0.5;
        y1 += 0.5;
    }
    const double pad = (y1 - y0) * 0.05;
    if (!fixedUnitY) {
        y0 -= pad;
        y1 += pad;
    }
    const QRectF plot = area.adjusted(70, 40, -20, -55);
    drawTitle(p, area, title);
    p.drawRect(plot);
    auto mapX = [&](double x) { return plot.left() + (x - x0) / (x1 - x0) * plot.width(); };
    auto mapY = [&](double y) { return plot.bottom() - (y - y0) / (y1 - y0) * plot.height(); };
    for (int t = 0; t <= 5; ++t) {
        const double xv = x0 + (x1 - x0) * t / 5, yv = y0 + (y1 - y0) * t / 5;
        p.setPen(QColor(225, 225, 225));
        p.drawLine(QPointF(mapX(xv), plot.top()), QPointF(mapX(xv), plot.bottom()));
        p.drawLine(QPointF(plot.left(), mapY(yv)), QPointF(plot.right(), mapY(yv)));
        p.setPen(Qt::black);
        p.drawText(QRectF(mapX(xv) - 40, plot.bottom() + 4, 80, 16), Qt::AlignCenter, QString::number(xv, 'g', 4));
        p.drawText(QRectF(plot.left() - 66, mapY(yv) - 8, 60, 16), Qt::AlignRight | Qt::AlignVCenter, QString::number(yv, 'g', 3));
    }
    p.drawText(QRectF(plot.left(), plot.bottom() + 22, plot.width(), 18), Qt::AlignCenter, xLabel);
    p.save();
    p.translate(area.left() + 14, plot.center().y());
    p.rotate(-90);
    p.drawText(QRectF(-plot.height() / 2, -9, plot.height(), 18), Qt::AlignCenter, yLabel);
    p.restore();
    p.setClipRect(plot);
    for (const auto& s : series) {
        QPainterPath path;
        for (size_t i = 0; i < s.points.size(); ++i) {
            const QPointF q(mapX(s.points[i].x()), mapY(s.points[i].y()));
            i == 0 ? path.moveTo(q) : path.lineTo(q);
        }
        p.setPen(QPen(s.colour, 1.6));
        p.setBrush(Qt::NoBrush);
        p.drawPath(path);
    }
    p.setClipping(false);
    // Legend, inside the plot at the bottom right (where ROC curves and falling losses leave room).
    const QFontMetricsF fm(p.font());
    double width = 0;
    for (const auto& s : series)
        width = std::max(width, fm.horizontalAdvance(s.name));
    double ly = plot.bottom() - 8 - 17.0 * series.size();
    const double lx = plot.right() - width - 40;
    p.fillRect(QRectF(lx - 6, ly - 3, width + 42, 17.0 * series.size() + 6), QColor(255, 255, 255, 220));
    for (const auto& s : series) {
        p.setPen(QPen(s.colour, 3));
        p.drawLine(QPointF(lx, ly + 8), QPointF(lx + 20, ly + 8));
        p.setPen(Qt::black);
        p.drawText(QRectF(lx + 26, ly, width + 10, 16), Qt::AlignLeft | Qt::AlignVCenter, s.name);
        ly += 17;
    }
}

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
        p.setBrush(pass < 0 ? QColor(170, 170, 170, 120) : colour(pass));
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
        p.setBrush(c < 0 ? QColor(170, 170, 170) : colour(c));
        p.setPen(Qt::NoPen);
        p.drawEllipse(QPointF(box.right() + 25, ly + 8), 5, 5);
        p.setPen(Qt::black);
        p.drawText(QRectF(box.right() + 35, ly, 120, 16), Qt::AlignLeft | Qt::AlignVCenter,
                   c < 0 ? QString("unlabeled") : QString::fromStdString(classes[static_cast<size_t>(c)]));
        ly += 18;
    }
}

/// Renders `draw` to name.png (2x for sharpness) and name.svg.
void render(const std::string& dir, const std::string& name, QSize size, const std::function<void(QPainter&, const QRectF&)>& draw,
            std::vector<std::string>& written)
{
    QImage image(size * 2, QImage::Format_RGB32);
    image.fill(Qt::white);
    {
        QPainter p(&image);
        p.setRenderHint(QPainter::Antialiasing);
        p.scale(2, 2);
        draw(p, QRectF(QPointF(0, 0), size));
    }
    const std::string png = dir + "/" + name + ".png";
    if (!image.save(QString::fromStdString(png), "PNG"))
        throw UserError("cannot write '" + png + "'");
    QSvgGenerator svg;
    const std::string svgPath = dir + "/" + name + ".svg";
    svg.setFileName(QString::fromStdString(svgPath));
    svg.setSize(size);
    svg.setViewBox(QRect(QPoint(0, 0), size));
    svg.setTitle(QString::fromStdString(name));
    {
        QPainter p(&svg);
        p.fillRect(QRectF(QPointF(0, 0), size), Qt::white);
        draw(p, QRectF(QPointF(0, 0), size));
    }
    written.push_back(png);
    written.push_back(svgPath);
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
    Series loss{"loss", {}, colour(0)}, knnAcc{"kNN accuracy", {}, colour(1)}, knnBal{"kNN balanced acc.", {}, colour(2)},
        valAuc{"val ROC AUC", {}, colour(3)}, valBal{"val balanced acc.", {}, colour(4)};
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
        render(outDir, "loss", {760, 420},
               [&](QPainter& p, const QRectF& a) { drawLinePlot(p, a, QString::fromStdString(runId) + ": training loss", "step", "loss", {loss}); },
               written);
    std::vector<Series> metricSeries;
    for (auto* s : {&knnAcc, &knnBal, &valAuc, &valBal})
        if (!s->points.empty())
            metricSeries.push_back(*s);
    if (!metricSeries.empty())
        render(outDir, "metrics", {760, 420},
               [&](QPainter& p, const QRectF& a) { drawLinePlot(p, a, QString::fromStdString(runId) + ": monitors", "step", "value", metricSeries, true); },
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
        render(outDir, "confusion_" + split, {520, 460},
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
                           colour(static_cast<int>(c))});
        }
        roc.push_back({"chance", {{0, 0}, {1, 1}}, QColor(160, 160, 160)});
        render(outDir, "roc_" + split, {520, 460},
               [&](QPainter& p, const QRectF& a) {
                   drawLinePlot(p, a, QString("ROC: %1, %2 images").arg(QString::fromStdString(split)).arg(m.samples), "false positive rate",
                                "true positive rate", roc, true);
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
        render(outDir, "tsne", {720, 600},
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
