#pragma once
// A widget that paints one of the report's figures (ui/report), so that the window shows what the
// exported PNG and SVG show. The figure's data is the caller's, prepared once, not on every paint.
#include <QString>
#include <QWidget>

#include <functional>

class QPainter;

namespace medsiam::ui {

class FigureView : public QWidget {
public:
    using Draw = std::function<void(QPainter&, const QRectF&)>;
    FigureView(QSize minimum, QWidget* parent);
    /// Paints `draw` from now on (repainting at once); an empty one shows `message` instead.
    void setFigure(Draw draw, const QString& message = {});

protected:
    void paintEvent(QPaintEvent*) override;

private:
    Draw m_draw;
    QString m_message;
};

} // namespace medsiam::ui
