#include "report/Plot.h"

#include "util/Error.h"

#include <QFont>
#include <QFontMetricsF>
#include <QImage>
#include <QPainter>
#include <QPainterPath>
#include <QSvgGenerator>

#include <algorithm>
#include <cmath>

namespace medsiam::ui {

namespace {
const QColor kPalette[] = {QColor(31, 119, 180), QColor(214, 39, 40), QColor(44, 160, 44), QColor(255, 127, 14),
                           QColor(148, 103, 189), QColor(140, 86, 75), QColor(227, 119, 194), QColor(23, 190, 207)};
} // namespace

QColor plotColour(int i) { return kPalette[static_cast<size_t>(i) % (sizeof kPalette / sizeof kPalette[0])]; }

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


void drawLinePlot(QPainter& p, const QRectF& area, const QString& title, const QString& xLabel, const QString& yLabel,
                  const std::vector<Series>& series, const PlotOptions& options)
{
    auto tx = [&](double x) { return options.logX ? std::log10(std::max(x, 1e-12)) : x; };
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (const auto& s : series)
        for (size_t i = 0; i < s.points.size(); ++i) {
            const auto& pt = s.points[i];
            const double e = i < s.errors.size() ? s.errors[i] : 0;
            x0 = std::min(x0, tx(pt.x()));
            x1 = std::max(x1, tx(pt.x()));
            y0 = std::min(y0, pt.y() - e);
            y1 = std::max(y1, pt.y() + e);
        }
    if (options.unitY) {
        y0 = 0;
        y1 = 1;
    }
    if (x0 > x1) { // nothing to draw
        x0 = 0;
        x1 = 1;
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
    if (!options.unitY) {
        y0 -= pad;
        y1 += pad;
    }
    // The legend below the plot takes rows of entries as wide as the widest name.
    const QFontMetricsF legendMetrics(p.font());
    double nameWidth = 0;
    for (const auto& s : series)
        nameWidth = std::max(nameWidth, legendMetrics.horizontalAdvance(s.name));
    const double entryWidth = nameWidth + 40;
    const int perRow = std::max(1, static_cast<int>((area.width() - 90) / entryWidth));
    const int legendRows = options.legendBelow ? (static_cast<int>(series.size()) + perRow - 1) / perRow : 0;
    const QRectF plot = area.adjusted(70, 40, -20, -55 - 18.0 * legendRows);
    drawTitle(p, area, title);
    p.setPen(Qt::black);
    p.setBrush(Qt::NoBrush);
    p.drawRect(plot);
    auto mapX = [&](double x) { return plot.left() + (tx(x) - x0) / (x1 - x0) * plot.width(); };
    auto mapXt = [&](double t) { return plot.left() + (t - x0) / (x1 - x0) * plot.width(); };
    auto mapY = [&](double y) { return plot.bottom() - (y - y0) / (y1 - y0) * plot.height(); };
    // Ticks at round numbers (1, 2 or 5 x 10^k apart); on a log axis at the powers of ten.
    auto ticks = [](double a, double b) {
        const double raw = (b - a) / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
        const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
        std::vector<double> out;
        for (double t = std::ceil(a / step - 1e-9) * step; t <= b + step * 1e-9; t += step)
            out.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
        return out;
    };
    std::vector<double> xTicks = options.logX ? std::vector<double>{} : ticks(x0, x1);
    if (options.logX)
        for (double t = std::ceil(x0 - 1e-9); t <= x1 + 1e-9; t += 1)
            xTicks.push_back(t);
    if (xTicks.size() < 2 && options.logX)
        xTicks = {x0, x1};
    for (double xt : xTicks) {
        const double xv = options.logX ? std::pow(10.0, xt) : xt;
        p.setPen(QColor(225, 225, 225));
        p.drawLine(QPointF(mapXt(xt), plot.top()), QPointF(mapXt(xt), plot.bottom()));
        p.setPen(Qt::black);
        p.drawText(QRectF(mapXt(xt) - 40, plot.bottom() + 4, 80, 16), Qt::AlignCenter, QString::number(xv, 'g', 4));
    }
    for (double yv : ticks(y0, y1)) {
        p.setPen(QColor(225, 225, 225));
        p.drawLine(QPointF(plot.left(), mapY(yv)), QPointF(plot.right(), mapY(yv)));
        p.setPen(Qt::black);
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
        QPen pen(s.colour, 1.6);
        if (s.dashed)
            pen.setStyle(Qt::DashLine);
        p.setPen(pen);
        p.setBrush(Qt::NoBrush);
        p.drawPath(path);
        p.setPen(QPen(s.colour, 1.2));
        for (size_t i = 0; i < s.points.size(); ++i) {
            const double x = mapX(s.points[i].x());
            if (i < s.errors.size() && s.errors[i] > 0) {
                const double a = mapY(s.points[i].y() - s.errors[i]), b = mapY(s.points[i].y() + s.errors[i]);
                p.drawLine(QPointF(x, a), QPointF(x, b));
                p.drawLine(QPointF(x - 4, a), QPointF(x + 4, a));
                p.drawLine(QPointF(x - 4, b), QPointF(x + 4, b));
            }
            if (s.markers) {
                p.setBrush(s.colour);
                p.drawEllipse(QPointF(x, mapY(s.points[i].y())), 2.8, 2.8);
                p.setBrush(Qt::NoBrush);
            }
        }
    }
    p.setClipping(false);
    // One legend entry: the series' line, then its name.
    auto entry = [&](const Series& s, double lx, double ly, double width) {
        QPen pen(s.colour, 3);
        if (s.dashed)
            pen.setStyle(Qt::DashLine);
        p.setPen(pen);
        p.drawLine(QPointF(lx, ly + 8), QPointF(lx + 20, ly + 8));
        p.setPen(Qt::black);
        p.drawText(QRectF(lx + 26, ly, width + 10, 16), Qt::AlignLeft | Qt::AlignVCenter, s.name);
    };
    if (options.legendBelow) {
        for (size_t i = 0; i < series.size(); ++i)
            entry(series[i], plot.left() + entryWidth * double(int(i) % perRow), plot.bottom() + 42 + 18.0 * double(int(i) / perRow),
                  nameWidth);
        return;
    }
    // Legend, inside the plot at the bottom right (where ROC curves and falling losses leave room).
    double ly = plot.bottom() - 8 - 17.0 * series.size();
    const double lx = plot.right() - nameWidth - 40;
    p.fillRect(QRectF(lx - 6, ly - 3, nameWidth + 42, 17.0 * series.size() + 6), QColor(255, 255, 255, 220));
    for (const auto& s : series) {
        entry(s, lx, ly, nameWidth);
        ly += 17;
    }
}


void renderFigure(const std::string& dir, const std::string& name, QSize size, const std::function<void(QPainter&, const QRectF&)>& draw,
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
        throw core::UserError("cannot write '" + png + "'");
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


} // namespace medsiam::ui
