#include "report/ComparisonReport.h"

#include "report/Plot.h"

#include "project/Project.h"
#include "train/Experiment.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <QPainter>

#include <cmath>
#include <filesystem>

namespace medsiam::ui {

namespace fs = std::filesystem;

void drawComparison(QPainter& p, const QRectF& area, const core::Comparison& comparison, core::CurveMetric metric, core::CurveAxis axis)
{
    std::vector<Series> series;
    int i = 0;
    for (const auto& run : comparison.runs) {
        Series s;
        s.name = QString::fromStdString(run.label);
        s.colour = plotColour(i++);
        const auto it = run.curves.find(metric);
        if (it != run.curves.end())
            for (const auto& pt : it->second)
                if (axis != core::CurveAxis::Seconds || pt.seconds >= 0)
                    s.points.emplace_back(pt.x(axis), pt.value);
        s.markers = s.points.size() == 1;
        series.push_back(std::move(s));
    }
    const bool score = metric != core::CurveMetric::Loss && metric != core::CurveMetric::CollapseStd;
    const QString title = QString::fromStdString(core::describe(metric)) + " by " + QString::fromStdString(core::describe(axis));
    PlotOptions options;
    options.unitY = score;
    options.legendBelow = comparison.runs.size() > 3;
    drawLinePlot(p, area, title, QString::fromStdString(core::describe(axis)), QString::fromStdString(core::describe(metric)), series, options);
}

std::vector<std::string> writeComparison(const core::Comparison& comparison, core::CurveMetric metric, core::CurveAxis axis,
                                         const std::string& dir, const std::string& name)
{
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw core::UserError("cannot create the folder '" + dir + "': " + ec.message());
    std::vector<std::string> written;
    renderFigure(dir, name, {820, 480}, [&](QPainter& p, const QRectF& a) { drawComparison(p, a, comparison, metric, axis); }, written);
    core::writeFileAtomically(dir + "/" + name + "_table.csv", comparison.tableCsv());
    written.push_back(dir + "/" + name + "_table.csv");
    core::writeFileAtomically(dir + "/" + name + "_curves.csv", comparison.curvesCsv());
    written.push_back(dir + "/" + name + "_curves.csv");
    return written;
}

namespace {

/// One panel: kNN balanced accuracy by `axis`; arms without SimSiam as dashed levels across it.
void drawKnnPanel(QPainter& p, const QRectF& area, const std::vector<core::ExperimentArmCurves>& arms, core::CurveAxis axis)
{
    double xMax = 0;
    for (const auto& a : arms)
        for (const auto& pt : a.knn)
            xMax = std::max(xMax, pt.x(axis));
    if (xMax <= 0)
        xMax = 1;
    std::vector<Series> series;
    int colourIndex = 0;
    for (const auto& a : arms) {
        Series s;
        s.name = QString::fromStdString(a.title);
        s.colour = plotColour(colourIndex++);
        if (a.pretrained) {
            for (const auto& pt : a.knn)
                if (pt.x(axis) >= 0)
                    s.points.emplace_back(pt.x(axis), pt.value);
            s.markers = true;
        } else if (a.knnLevel >= 0) {
            s.points = {{0, a.knnLevel}, {xMax, a.knnLevel}};
            s.dashed = true;
        }
        if (!s.points.empty())
            series.push_back(std::move(s));
    }
    PlotOptions options;
    options.legendBelow = true;
    drawLinePlot(p, area, "kNN balanced accuracy (val) by " + QString::fromStdString(core::describe(axis)),
                 QString::fromStdString(core::describe(axis)), "kNN balanced accuracy", series, options);
}

} // namespace

void drawExperimentCurves(QPainter& p, const QRectF& area, const std::vector<core::ExperimentArmCurves>& arms)
{
    const double half = area.width() / 2;
    drawKnnPanel(p, QRectF(area.left(), area.top(), half, area.height()), arms, core::CurveAxis::Epoch);
    drawKnnPanel(p, QRectF(area.left() + half, area.top(), half, area.height()), arms, core::CurveAxis::Seconds);
}

void drawLabelEfficiency(QPainter& p, const QRectF& area, const std::vector<core::ExperimentArmCurves>& arms)
{
    std::vector<Series> series;
    int colourIndex = 0;
    for (const auto& a : arms) {
        Series s;
        s.name = QString::fromStdString(a.title);
        s.colour = plotColour(colourIndex++);
        s.markers = true;
        for (const auto& lp : a.labelEfficiency) {
            s.points.emplace_back(lp.fraction * 100, lp.aucMean);
            s.errors.push_back(lp.aucSd);
        }
        if (!s.points.empty())
            series.push_back(std::move(s));
    }
    PlotOptions options;
    options.logX = true;
    options.legendBelow = true;
    drawLinePlot(p, area, "label efficiency: linear probe, mean +- sd over draws", "train labels used (%)", "test ROC AUC", series, options);
}

std::vector<std::string> writeExperimentFigures(core::Project& project, const std::string& experimentId)
{
    const std::string dir = core::experimentDir(project, experimentId);
    const auto arms = core::experimentCurves(project, experimentId);
    std::vector<std::string> written;
    renderFigure(dir, "figure", {1400, 520}, [&](QPainter& p, const QRectF& a) { drawExperimentCurves(p, a, arms); }, written);
    renderFigure(dir, "label_efficiency", {760, 480}, [&](QPainter& p, const QRectF& a) { drawLabelEfficiency(p, a, arms); }, written);
    return written;
}

} // namespace medsiam::ui
