#pragma once
#include <QStyledItemDelegate>

namespace medsiam::ui {

/// Draws a grid cell: the thumbnail (or a placeholder while it loads), the class as a coloured
/// band with its name, the split as a small tag, and the file name.
class ThumbnailDelegate : public QStyledItemDelegate {
    Q_OBJECT
public:
    ThumbnailDelegate(int thumbnailSize, QObject* parent = nullptr);
    void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override;
    QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;

private:
    int m_size;
};

} // namespace medsiam::ui
