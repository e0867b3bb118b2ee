#pragma once
// The embedding map: one dot per image at its t-SNE or PCA position, coloured by class.
#include <QPointF>
#include <QRectF>
#include <QVector>
#include <QWidget>

#include <cstdint>
#include <functional>
#include <vector>

namespace medsiam::ui {

class ProjectSession;

/// Draws a map and lets the user explore it: the wheel zooms about the cursor, a right or middle
/// drag pans, double-click or F fits the map to the view. A click on a dot selects its image and
/// emits imageActivated; a left drag selects every dot in the rectangle (Shift adds, Ctrl
/// toggles); Escape clears. Hovering shows the image's id, class, split and file.
class EmbeddingMapView : public QWidget {
    Q_OBJECT
public:
    explicit EmbeddingMapView(ProjectSession& session, QWidget* parent = nullptr);

    /// New points (image ids and N x 2 positions); the view fits them and clears the selection.
    void setMap(const QVector<qint64>& imageIds, const QVector<float>& xy);
    /// New positions for the same points (t-SNE converging). The view follows the map's extent
    /// until the user zooms or pans.
    void updatePositions(const QVector<float>& xy);
    void clear();
    int pointCount() const { return static_cast<int>(m_ids.size()); }
    QVector<qint64> selectedImageIds() const;
    void setSelectedImageIds(const QVector<qint64>& ids);
    /// The image under a widget position (within a few pixels of its dot), or -1.
    qint64 imageAt(const QPointF& widgetPos) const;
    /// Where an image's dot is drawn, in widget coordinates (tests and screenshots).
    QPointF widgetPosition(qint64 imageId) const;
    void fitToView();
    /// A text shown in the middle while there are no points.
    void setPlaceholder(const QString& text);

Q_SIGNALS:
    void imageActivated(qint64 imageId);
    void selectionChanged(int count);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;

private:
    QPointF toWidget(const QPointF& p) const;
    QPointF toMap(const QPointF& w) const;
    QRectF dataBounds() const;
    void drawLegend(QPainter& painter);
    void showTooltip(const QPointF& pos, const QPoint& globalPos);
    void selectionWasChanged();
    void findRows();

    ProjectSession& m_session;
    std::vector<qint64> m_ids;
    std::vector<int> m_rows; ///< each point's index in the session's rows (-1: not there)
    std::vector<QPointF> m_points;
    std::vector<char> m_selected;
    QPointF m_centre;      ///< map point at the widget's centre
    double m_scale = 1;    ///< widget pixels per map unit
    bool m_followExtent = true;
    QString m_placeholder;
    // Mouse interaction
    enum class Drag { None, Pan, Select } m_drag = Drag::None;
    QPointF m_pressPos, m_lastPos;
    Qt::KeyboardModifiers m_pressModifiers;
    qint64 m_hover = -1;
};

} // namespace medsiam::ui
