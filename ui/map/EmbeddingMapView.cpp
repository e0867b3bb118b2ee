#include "map/EmbeddingMapView.h"

#include "project/Project.h"
#include "project/ProjectSession.h"

#include <QAction>
#include <QFileInfo>
#include <QImage>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace medsiam::ui {

namespace {
constexpr double kMargin = 24;   // pixels between the fitted map and the widget's edge
constexpr double kPickRadius = 6; // pixels: how close a click or hover must be to a dot
const QColor kUnlabeled(150, 154, 160);
} // namespace

EmbeddingMapView::EmbeddingMapView(ProjectSession& session, QWidget* parent) : QWidget(parent), m_session(session)
{
    setMouseTracking(true);
    setFocusPolicy(Qt::StrongFocus);
    setMinimumSize(240, 200);
    setAttribute(Qt::WA_OpaquePaintEvent);
    // The map's keys are actions (while the map has the focus), so Help > Keyboard Shortcuts lists them.
    const auto key = [this](const QString& text, const QKeySequence& keys, auto triggered) {
        auto* a = new QAction(text, this);
        a->setShortcut(keys);
        a->setShortcutContext(Qt::WidgetShortcut);
        a->setProperty("helpGroup", tr("Embedding map"));
        connect(a, &QAction::triggered, this, triggered);
        addAction(a);
    };
    key(tr("Fit the whole map in the view"), QKeySequence(Qt::Key_F), [this] {
        m_followExtent = true;
        fitToView();
    });
    key(tr("Clear the map's selection"), QKeySequence(Qt::Key_Escape), [this] {
        std::fill(m_selected.begin(), m_selected.end(), 0);
        selectionWasChanged();
        update();
    });
    key(tr("Select every image on the map"), QKeySequence(QKeySequence::SelectAll), [this] {
        std::fill(m_selected.begin(), m_selected.end(), 1);
        selectionWasChanged();
        update();
    });
    connect(&m_session, &ProjectSession::labelsChanged, this, [this] { update(); });
    connect(&m_session, &ProjectSession::classesChanged, this, [this] { update(); });
    connect(&m_session, &ProjectSession::catalogueReloaded, this, [this] {
        findRows();
        update();
    });
}

void EmbeddingMapView::findRows()
{
    m_rows.resize(m_ids.size());
    for (size_t i = 0; i < m_ids.size(); ++i)
        m_rows[i] = m_session.rowOf(m_ids[i]);
}

void EmbeddingMapView::setMap(const QVector<qint64>& imageIds, const QVector<float>& xy)
{
    m_ids.assign(imageIds.begin(), imageIds.end());
    m_points.assign(m_ids.size(), QPointF());
    m_selected.assign(m_ids.size(), 0);
    findRows();
    m_hover = -1;
    m_followExtent = true;
    updatePositions(xy);
    selectionWasChanged();
}

void EmbeddingMapView::updatePositions(const QVector<float>& xy)
{
    const size_t n = std::min(m_ids.size(), static_cast<size_t>(xy.size() / 2));
    for (size_t i = 0; i < n; ++i)
        m_points[i] = QPointF(xy[static_cast<int>(2 * i)], xy[static_cast<int>(2 * i + 1)]);
    if (m_followExtent)
        fitToView();
    update();
}

void EmbeddingMapView::clear()
{
    m_ids.clear();
    m_rows.clear();
    m_points.clear();
    m_selected.clear();
    m_hover = -1;
    selectionWasChanged();
    update();
}

void EmbeddingMapView::setPlaceholder(const QString& text)
{
    m_placeholder = text;
    update();
}

QVector<qint64> EmbeddingMapView::selectedImageIds() const
{
    QVector<qint64> out;
    for (size_t i = 0; i < m_ids.size(); ++i)
        if (m_selected[i])
            out.push_back(m_ids[i]);
    return out;
}

void EmbeddingMapView::setSelectedImageIds(const QVector<qint64>& ids)
{
    std::fill(m_selected.begin(), m_selected.end(), 0);
    for (size_t i = 0; i < m_ids.size(); ++i)
        if (ids.contains(m_ids[i]))
            m_selected[i] = 1;
    selectionWasChanged();
    update();
}

void EmbeddingMapView::selectionWasChanged()
{
    Q_EMIT selectionChanged(static_cast<int>(std::count(m_selected.begin(), m_selected.end(), 1)));
}

QRectF EmbeddingMapView::dataBounds() const
{
    if (m_points.empty())
        return {};
    double x0 = std::numeric_limits<double>::max(), y0 = x0, x1 = -x0, y1 = -x0;
    for (const auto& p : m_points) {
        x0 = std::min(x0, p.x());
        x1 = std::max(x1, p.x());
        y0 = std::min(y0, p.y());
        y1 = std::max(y1, p.y());
    }
    return QRectF(QPointF(x0, y0), QPointF(x1, y1));
}

void EmbeddingMapView::fitToView()
{
    const QRectF b = dataBounds();
    if (b.isNull() && m_points.empty())
        return;
    const double w = std::max(1.0, width() - 2 * kMargin), h = std::max(1.0, height() - 2 * kMargin);
    const double bw = std::max(b.width(), 1e-9), bh = std::max(b.height(), 1e-9);
    m_scale = (b.width() <= 0 && b.height() <= 0) ? 1.0 : std::min(w / bw, h / bh);
    m_centre = b.center();
    update();
}

QPointF EmbeddingMapView::toWidget(const QPointF& p) const
{
    return QPointF(width() / 2.0, height() / 2.0) + (p - m_centre) * m_scale;
}

QPointF EmbeddingMapView::toMap(const QPointF& w) const
{
    return m_centre + (w - QPointF(width() / 2.0, height() / 2.0)) / m_scale;
}

QPointF EmbeddingMapView::widgetPosition(qint64 imageId) const
{
    for (size_t i = 0; i < m_ids.size(); ++i)
        if (m_ids[i] == imageId)
            return toWidget(m_points[i]);
    return QPointF(-1, -1);
}

qint64 EmbeddingMapView::imageAt(const QPointF& widgetPos) const
{
    qint64 best = -1;
    double bestD = kPickRadius * kPickRadius;
    for (size_t i = 0; i < m_points.size(); ++i) {
        const QPointF d = toWidget(m_points[i]) - widgetPos;
        const double dd = d.x() * d.x() + d.y() * d.y();
        if (dd <= bestD) {
            bestD = dd;
            best = m_ids[i];
        }
    }
    return best;
}

void EmbeddingMapView::paintEvent(QPaintEvent*)
{
    QPainter painter(this);
    painter.fillRect(rect(), palette().base());
    if (m_points.empty()) {
        painter.setPen(palette().color(QPalette::PlaceholderText));
        painter.drawText(rect().adjusted(16, 16, -16, -16), Qt::AlignCenter | Qt::TextWordWrap, m_placeholder);
        return;
    }
    const bool large = m_points.size() > 20000;
    painter.setRenderHint(QPainter::Antialiasing, !large);
    // Dots grouped by colour, one drawPoints call per class; unlabeled ones underneath.
    std::map<int64_t, QPolygonF> byClass;
    QPolygonF selected;
    const auto& rows = m_session.rows();
    const QRectF visible = QRectF(rect()).adjusted(-8, -8, 8, 8);
    for (size_t i = 0; i < m_points.size(); ++i) {
        const QPointF w = toWidget(m_points[i]);
        if (!visible.contains(w))
            continue;
        const int r = m_rows[i];
        const int64_t cls = r >= 0 ? rows[static_cast<size_t>(r)].classId : -1;
        byClass[cls].push_back(w);
        if (m_selected[i])
            selected.push_back(w);
    }
    const double dot = m_points.size() > 20000 ? 3.0 : m_points.size() > 3000 ? 4.0 : 6.0;
    // Unlabeled dots first, then the classes from the largest to the smallest, so that a small
    // class is not buried under a large one.
    std::vector<std::pair<int64_t, const QPolygonF*>> order;
    for (const auto& [cls, points] : byClass)
        order.emplace_back(cls, &points);
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
        if ((a.first <= 0) != (b.first <= 0))
            return a.first <= 0;
        return a.second->size() > b.second->size();
    });
    if (large) {
        // 3 x 3 squares written straight into an image: a painter's wide points cost about 1 µs
        // each, which is 100 ms a frame at 100k points.
        QImage layer(size(), QImage::Format_ARGB32_Premultiplied);
        layer.fill(Qt::transparent);
        const int w = layer.width(), h = layer.height();
        for (const auto& [cls, points] : order) {
            const QColor c = cls > 0 ? m_session.classColor(cls) : QColor();
            const QRgb rgb = (c.isValid() ? c : kUnlabeled).rgb();
            for (const QPointF& p : *points) {
                const int cx = static_cast<int>(p.x()), cy = static_cast<int>(p.y());
                for (int y = std::max(0, cy - 1); y <= std::min(h - 1, cy + 1); ++y) {
                    auto* line = reinterpret_cast<QRgb*>(layer.scanLine(y));
                    for (int x = std::max(0, cx - 1); x <= std::min(w - 1, cx + 1); ++x)
                        line[x] = rgb;
                }
            }
        }
        painter.drawImage(0, 0, layer);
    } else {
        for (const auto& [cls, points] : order) {
            const QColor c = cls > 0 ? m_session.classColor(cls) : QColor();
            painter.setPen(QPen(c.isValid() ? c : kUnlabeled, dot, Qt::SolidLine, Qt::RoundCap));
            painter.drawPoints(*points);
        }
    }
    if (!selected.isEmpty()) { // a ring around each selected dot, on top
        painter.setBrush(Qt::NoBrush);
        painter.setPen(QPen(palette().color(QPalette::Text), 1.5));
        for (const QPointF& p : selected)
            painter.drawEllipse(p, dot / 2 + 2.5, dot / 2 + 2.5);
    }
    if (m_hover >= 0) {
        painter.setPen(QPen(palette().color(QPalette::Highlight), 2));
        painter.setBrush(Qt::NoBrush);
        painter.drawEllipse(widgetPosition(m_hover), dot, dot);
    }
    if (m_drag == Drag::Select && (m_lastPos - m_pressPos).manhattanLength() > 4) {
        QColor fill = palette().color(QPalette::Highlight);
        fill.setAlpha(50);
        painter.setBrush(fill);
        painter.setPen(QPen(palette().color(QPalette::Highlight), 1, Qt::DashLine));
        painter.drawRect(QRectF(m_pressPos, m_lastPos).normalized());
    }
    drawLegend(painter);
}

void EmbeddingMapView::drawLegend(QPainter& painter)
{
    std::map<int64_t, int> counts;
    const auto& rows = m_session.rows();
    for (const int r : m_rows)
        ++counts[r >= 0 ? rows[static_cast<size_t>(r)].classId : -1];
    QStringList lines;
    QVector<QColor> colours;
    for (const auto& c : m_session.classes()) {
        lines << tr("%1 (%2)").arg(QString::fromStdString(c.name)).arg(counts.count(c.id) ? counts[c.id] : 0);
        colours << m_session.classColor(c.id);
    }
    if (counts.count(-1)) {
        lines << tr("unlabeled (%1)").arg(counts[-1]);
        colours << kUnlabeled;
    }
    const QFontMetrics fm = painter.fontMetrics();
    int textWidth = 0;
    for (const auto& l : lines)
        textWidth = std::max(textWidth, fm.horizontalAdvance(l));
    const int lineH = fm.height() + 2;
    const QRect box(8, 8, textWidth + 34, lineH * static_cast<int>(lines.size()) + 8);
    QColor bg = palette().color(QPalette::Window);
    bg.setAlpha(220);
    painter.setPen(palette().color(QPalette::Mid));
    painter.setBrush(bg);
    painter.drawRoundedRect(box, 4, 4);
    for (int i = 0; i < lines.size(); ++i) {
        const int y = box.top() + 4 + i * lineH;
        painter.setPen(Qt::NoPen);
        painter.setBrush(colours[i]);
        painter.drawEllipse(QPointF(box.left() + 14, y + lineH / 2.0), 5, 5);
        painter.setPen(palette().color(QPalette::WindowText));
        painter.drawText(QRect(box.left() + 26, y, textWidth + 4, lineH), Qt::AlignVCenter | Qt::AlignLeft, lines[i]);
    }
}

void EmbeddingMapView::showTooltip(const QPointF& pos, const QPoint& globalPos)
{
    const qint64 id = imageAt(pos);
    if (id != m_hover) {
        m_hover = id;
        update();
    }
    if (id < 0) {
        QToolTip::hideText();
        return;
    }
    const int r = m_session.rowOf(id);
    QString text = tr("Image %1").arg(id);
    if (r >= 0) {
        const auto& row = m_session.rows()[static_cast<size_t>(r)];
        text += QStringLiteral(" · ") + (row.classId > 0 ? m_session.className(row.classId) : tr("unlabeled"));
        if (!row.split.empty())
            text += QStringLiteral(" · ") + QString::fromStdString(row.split);
        text += QStringLiteral("\n") + QFileInfo(QString::fromStdString(row.relativePath.empty() ? row.sourcePath : row.relativePath)).fileName();
        if (row.frameCount > 1)
            text += tr(" (frame %1 of %2)").arg(row.frameIndex + 1).arg(row.frameCount);
    }
    QToolTip::showText(globalPos, text, this);
}

void EmbeddingMapView::mousePressEvent(QMouseEvent* event)
{
    m_pressPos = m_lastPos = event->position();
    m_pressModifiers = event->modifiers();
    if (event->button() == Qt::LeftButton)
        m_drag = Drag::Select;
    else if (event->button() == Qt::RightButton || event->button() == Qt::MiddleButton)
        m_drag = Drag::Pan;
}

void EmbeddingMapView::mouseMoveEvent(QMouseEvent* event)
{
    const QPointF pos = event->position();
    if (m_drag == Drag::Pan) {
        m_centre -= (pos - m_lastPos) / m_scale;
        m_followExtent = false;
        m_lastPos = pos;
        update();
        return;
    }
    if (m_drag == Drag::Select) {
        m_lastPos = pos;
        update();
        return;
    }
    showTooltip(pos, event->globalPosition().toPoint());
}

void EmbeddingMapView::mouseReleaseEvent(QMouseEvent* event)
{
    const Drag drag = m_drag;
    m_drag = Drag::None;
    if (drag != Drag::Select || event->button() != Qt::LeftButton)
        return;
    const bool add = m_pressModifiers & Qt::ShiftModifier, toggle = m_pressModifiers & Qt::ControlModifier;
    if ((event->position() - m_pressPos).manhattanLength() <= 4) { // a click
        const qint64 id = imageAt(event->position());
        if (!add && !toggle)
            std::fill(m_selected.begin(), m_selected.end(), 0);
        for (size_t i = 0; i < m_ids.size(); ++i)
            if (m_ids[i] == id)
                m_selected[i] = toggle ? !m_selected[i] : 1;
        selectionWasChanged();
        update();
        if (id >= 0)
            Q_EMIT imageActivated(id);
        return;
    }
    const QRectF area = QRectF(toMap(m_pressPos), toMap(event->position())).normalized();
    for (size_t i = 0; i < m_points.size(); ++i) {
        const bool in = area.contains(m_points[i]);
        if (toggle)
            m_selected[i] = in ? !m_selected[i] : m_selected[i];
        else
            m_selected[i] = in || (add && m_selected[i]);
    }
    selectionWasChanged();
    update();
}

void EmbeddingMapView::mouseDoubleClickEvent(QMouseEvent* event)
{
    if (imageAt(event->position()) < 0) {
        m_followExtent = true;
        fitToView();
    }
}

void EmbeddingMapView::wheelEvent(QWheelEvent* event)
{
    if (m_points.empty())
        return;
    const double factor = std::pow(1.0015, event->angleDelta().y());
    const QPointF at = event->position(), before = toMap(at);
    m_scale = std::clamp(m_scale * factor, 1e-6, 1e9);
    m_centre += before - toMap(at); // keep the map point under the cursor in place
    m_followExtent = false;
    update();
}

void EmbeddingMapView::resizeEvent(QResizeEvent* event)
{
    QWidget::resizeEvent(event);
    if (m_followExtent)
        fitToView();
}

} // namespace medsiam::ui
