#pragma once
#include "image/Window.h"

#include <QImage>
#include <QPointF>
#include <QWidget>

#include <optional>
#include <vector>

namespace medsiam::core {
struct DecodedFrame;
}

namespace medsiam::ui {

/// Shows one full-resolution frame with zoom (wheel, about the cursor), pan (left drag) and
/// window/level (right drag, as in radiology viewers: right widens, down raises the level).
/// Grey frames are windowed from their real values (Hounsfield units for CT); 8-bit and
/// colour frames are windowed over 0..255. Double-click fits the image to the view.
class ImageView : public QWidget {
    Q_OBJECT
public:
    explicit ImageView(QWidget* parent = nullptr);

    /// Shows a decoded frame at its own window, fitted to the view.
    void setFrame(const core::DecodedFrame& frame);
    /// Shows a frame keeping the current window and zoom (stepping through slices).
    void replaceFrame(const core::DecodedFrame& frame);
    /// Shows a message instead of an image ("Loading...", an error in plain words).
    void showMessage(const QString& message);
    bool hasImage() const { return !m_rendered.isNull(); }

    core::WindowLevel window() const { return m_window; }
    void setWindow(core::WindowLevel window);
    /// Back to the frame's own window (the file's VOI window, else its value range).
    void resetWindow();
    /// True when the frame carries real values (window presets in HU make sense).
    bool hasValues() const { return !m_values.empty(); }
    /// The windowed 8-bit image as drawn (before zoom).
    const QImage& renderedImage() const { return m_rendered; }
    double zoom() const { return m_zoom; }
    void fitToView();

Q_SIGNALS:
    void windowChanged(double centre, double width);
    /// The pixel under the cursor and its value, in words ("x 120  y 44  value -812"); empty when
    /// the cursor is off the image or the image changed under it and it is not over the new one.
    /// A new image under a still cursor gives the new image's value at once.
    void hoverInfo(const QString& text);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void leaveEvent(QEvent* event) override;

private:
    void load(const core::DecodedFrame& frame);
    void render();
    QPointF toImage(const QPointF& widgetPos) const;
    /// Emits hoverInfo for the cursor's last position over the image shown now.
    void updateReadout();
    std::vector<float> m_values;
    core::Image8 m_base; // 8-bit frame when there are no values
    int m_width = 0, m_height = 0;
    bool m_inverted = false;
    double m_valueRange = 255;
    core::WindowLevel m_window, m_initialWindow;
    QImage m_rendered;
    QString m_message;
    double m_zoom = 1;
    QPointF m_offset; // widget position of the image's top-left corner
    bool m_fit = true;
    Qt::MouseButton m_dragButton = Qt::NoButton;
    QPointF m_dragStart;
    core::WindowLevel m_dragWindow;
    QPointF m_dragOffset;
    std::optional<QPointF> m_cursor; // the cursor's widget position while it is over the view
};

} // namespace medsiam::ui
