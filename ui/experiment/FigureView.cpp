#include "experiment/FigureView.h"

#include <QPainter>

#include <exception>

namespace medsiam::ui {

FigureView::FigureView(QSize minimum, QWidget* parent) : QWidget(parent) { setMinimumSize(minimum); }

void FigureView::setFigure(Draw draw, const QString& message)
{
    m_draw = std::move(draw);
    m_message = message;
    update();
}

void FigureView::paintEvent(QPaintEvent*)
{
    QPainter p(this);
    p.fillRect(rect(), Qt::white);
    p.setRenderHint(QPainter::Antialiasing);
    if (!m_draw) {
        p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap, m_message);
        return;
    }
    try {
        m_draw(p, QRectF(rect()));
    } catch (const std::exception& e) {
        p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap, QString::fromUtf8(e.what()));
    }
}

} // namespace medsiam::ui
