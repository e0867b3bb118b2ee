#pragma once
// The plotting primitives of medsiam's figures (reports, run comparisons, experiments), drawn with
// QPainter so that the same code paints a widget, a PNG and an SVG.
#include <QColor>
#include <QPointF>
#include <QRectF>
#include <QSize>
#include <QString>

#include <functional>
#include <string>
#include <vector>

class QPainter;

namespace medsiam::ui {

/// The figures' colours, in order (a colour-blind-friendly palette of eight).
QColor plotColour(int i);

/// The plot's title, bold at the top of `area`; leaves the painter in black, 9 pt, for labels.
void drawTitle(QPainter& p, const QRectF& area, const QString& title);

struct Series {
    QString name;
    std::vector<QPointF> points;
    QColor colour;
    bool dashed = false;        ///< a reference level (e.g. a run that was not trained here)
    std::vector<double> errors; ///< +- per point (drawn as bars) when not empty
    bool markers = false;       ///< a dot at each point
};

struct PlotOptions {
    bool unitY = false; ///< y from 0 to 1 (scores)
    bool logX = false;  ///< a log10 x axis (label fractions)
    bool legendBelow = false; ///< the legend under the plot (many curves), not inside it
};

/// Axes with ticks, a title, axis labels, line series and a legend.
void drawLinePlot(QPainter& p, const QRectF& area, const QString& title, const QString& xLabel, const QString& yLabel,
                  const std::vector<Series>& series, const PlotOptions& options = {});

/// Renders `draw` to dir/name.png (2x for sharpness) and dir/name.svg; appends both paths to
/// `written`. Throws core::UserError when a file cannot be written.
void renderFigure(const std::string& dir, const std::string& name, QSize size,
                  const std::function<void(QPainter&, const QRectF&)>& draw, std::vector<std::string>& written);

} // namespace medsiam::ui
