#include "viewer/ImageView.h"

#include "io/ImageDecoder.h"

#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>

namespace medsiam::ui {

ImageView::ImageView(QWidget* parent) : QWidget(parent)
{
    setMouseTracking(true);
    setMinimumSize(200, 200);
    setContextMenuPolicy(Qt::PreventContextMenu); // the right button windows
    setAutoFillBackground(true);
    QPalette pal = palette();
    pal.setColor(QPalette::Window, Qt::black);
    setPalette(pal);
}

void ImageView::load(const core::DecodedFrame& frame)
{
    m_message.clear();
    m_width = frame.image.width;
    m_height = frame.image.height;
    if (!frame.values.empty() && frame.image.channels == 1) {
        m_values = frame.values;
        m_base = {};
        m_inverted = frame.inverted;
        const auto [lo, hi] = core::valueRange(m_values);
        m_valueRange = std::max(hi - lo, 1e-6);
        m_initialWindow = {frame.windowCentre, frame.windowWidth > 0 ? frame.windowWidth : m_valueRange};
    } else {
        m_values.clear();
        m_base = frame.image;
        m_inverted = false;
        m_valueRange = 255;
        m_initialWindow = {127.5, 255};
    }
}

void ImageView::setFrame(const core::DecodedFrame& frame)
{
    load(frame);
    m_window = m_initialWindow;
    m_fit = true;
    render();
    fitToView();
    updateReadout();
    Q_EMIT windowChanged(m_window.centre, m_window.width);
}

void ImageView::replaceFrame(const core::DecodedFrame& frame)
{
    const bool hadImage = hasImage();
    const bool hadValues = hasValues();
    load(frame);
    if (!hadImage || hadValues != hasValues())
        m_window = m_initialWindow;
    render();
    if (!hadImage || m_fit)
        fitToView();
    updateReadout();
    update();
}

void ImageView::showMessage(const QString& message)
{
    m_message = message;
    m_rendered = QImage();
    m_values.clear();
    m_base = {};
    m_width = m_height = 0;
    updateReadout(); // no image: no value
    update();
}

void ImageView::setWindow(core::WindowLevel window)
{
    m_window = window;
    m_window.width = std::max(m_window.width, 1e-6);
    render();
    update();
    Q_EMIT windowChanged(m_window.centre, m_window.width);
}

void ImageView::resetWindow() { setWindow(m_initialWindow); }

void ImageView::render()
{
    core::Image8 out;
    if (!m_values.empty())
        out = core::applyWindow(m_values, m_width, m_height, m_window, m_inverted);
    else if (!m_base.empty())
        out = core::applyWindow(m_base, m_window);
    else {
        m_rendered = QImage();
        return;
    }
    const QImage::Format format = out.channels == 3 ? QImage::Format_RGB888 : QImage::Format_Grayscale8;
    m_rendered = QImage(out.pixels.data(), out.width, out.height, out.width * out.channels, format).copy();
}

void ImageView::fitToView()
{
    if (m_rendered.isNull())
        return;
    m_fit = true;
    m_zoom = std::min(double(width()) / m_rendered.width(), double(height()) / m_rendered.height());
    m_offset = QPointF((width() - m_rendered.width() * m_zoom) / 2, (height() - m_rendered.height() * m_zoom) / 2);
    update();
}

QPointF ImageView::toImage(const QPointF& p) const { return (p - m_offset) / m_zoom; }

void ImageView::paintEvent(QPaintEvent*)
{
    QPainter p(this);
    if (m_rendered.isNull()) {
        p.setPen(QColor(200, 200, 200));
        p.drawText(rect().adjusted(12, 12, -12, -12), Qt::AlignCenter | Qt::TextWordWrap,
                   m_message.isEmpty() ? tr("Select an image to view it") : m_message);
        return;
    }
    // Interpolated display, as diagnostic viewers default to; pixel values show under the cursor.
    p.setRenderHint(QPainter::SmoothPixmapTransform, true);
    p.drawImage(QRectF(m_offset, QSizeF(m_rendered.width() * m_zoom, m_rendered.height() * m_zoom)), m_rendered);
    p.setPen(QColor(255, 220, 0));
    p.drawText(rect().adjusted(6, 4, -6, -4), Qt::AlignLeft | Qt::AlignBottom,
               tr("W %1  L %2   %3%").arg(m_window.width, 0, 'f', m_window.width < 10 ? 2 : 0)
                   .arg(m_window.centre, 0, 'f', m_window.width < 10 ? 2 : 0)
                   .arg(m_zoom * 100, 0, 'f', 0));
}

void ImageView::mousePressEvent(QMouseEvent* e)
{
    if (m_rendered.isNull() || m_dragButton != Qt::NoButton)
        return;
    if (e->button() == Qt::RightButton || e->button() == Qt::LeftButton || e->button() == Qt::MiddleButton) {
        m_dragButton = e->button();
        m_dragStart = e->position();
        m_dragWindow = m_window;
        m_dragOffset = m_offset;
        setCursor(m_dragButton == Qt::RightButton ? Qt::SizeAllCursor : Qt::ClosedHandCursor);
    }
}

void ImageView::mouseMoveEvent(QMouseEvent* e)
{
    if (m_rendered.isNull()) {
        m_cursor = e->position();
        return;
    }
    const QPointF d = e->position() - m_dragStart;
    if (m_dragButton == Qt::RightButton) {
        setWindow(core::dragWindow(m_dragWindow, int(std::lround(d.x())), int(std::lround(d.y())), m_valueRange));
    } else if (m_dragButton == Qt::LeftButton || m_dragButton == Qt::MiddleButton) {
        m_fit = false;
        m_offset = m_dragOffset + d;
        update();
    }
    m_cursor = e->position();
    updateReadout();
}

void ImageView::leaveEvent(QEvent*)
{
    m_cursor.reset();
    Q_EMIT hoverInfo(QString());
}

void ImageView::updateReadout()
{
    if (!m_cursor || m_rendered.isNull()) {
        Q_EMIT hoverInfo(QString());
        return;
    }
    const QPointF ip = toImage(*m_cursor);
    const int x = int(std::floor(ip.x())), y = int(std::floor(ip.y()));
    if (x < 0 || y < 0 || x >= m_width || y >= m_height) {
        Q_EMIT hoverInfo(QString());
        return;
    }
    QString value;
    if (!m_values.empty())
        value = QString::number(m_values[size_t(y) * m_width + x], 'g', 6);
    else if (m_base.channels == 3) {
        const uint8_t* px = m_base.row(y) + 3 * x;
        value = QStringLiteral("%1, %2, %3").arg(px[0]).arg(px[1]).arg(px[2]);
    } else if (!m_base.empty())
        value = QString::number(m_base.row(y)[x]);
    Q_EMIT hoverInfo(tr("x %1  y %2  value %3").arg(x).arg(y).arg(value));
}

void ImageView::mouseReleaseEvent(QMouseEvent* e)
{
    if (e->button() == m_dragButton) {
        m_dragButton = Qt::NoButton;
        unsetCursor();
    }
}

void ImageView::mouseDoubleClickEvent(QMouseEvent* e)
{
    if (e->button() == Qt::LeftButton)
        fitToView();
}

void ImageView::wheelEvent(QWheelEvent* e)
{
    if (m_rendered.isNull())
        return;
    const double steps = e->angleDelta().y() / 120.0;
    const double newZoom = std::clamp(m_zoom * std::pow(1.25, steps), 0.02, 64.0);
    const QPointF anchor = e->position();
    const QPointF imagePoint = toImage(anchor);
    m_zoom = newZoom;
    m_offset = anchor - imagePoint * m_zoom;
    m_fit = false;
    updateReadout();
    update();
}

void ImageView::resizeEvent(QResizeEvent*)
{
    if (m_fit)
        fitToView();
}

} // namespace medsiam::ui
