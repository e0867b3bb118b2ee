#include "browser/ThumbnailDelegate.h"

#include "browser/CatalogueModel.h"

#include <QApplication>
#include <QPainter>

namespace medsiam::ui {

ThumbnailDelegate::ThumbnailDelegate(int thumbnailSize, QObject* parent) : QStyledItemDelegate(parent), m_size(thumbnailSize) {}

QSize ThumbnailDelegate::sizeHint(const QStyleOptionViewItem& option, const QModelIndex&) const
{
    const int text = option.fontMetrics.height();
    return QSize(m_size + 8, m_size + 8 + 2 * text + 4);
}

void ThumbnailDelegate::paint(QPainter* p, const QStyleOptionViewItem& option, const QModelIndex& index) const
{
    p->save();
    const QRect cell = option.rect.adjusted(2, 2, -2, -2);
    const QPalette& pal = option.palette;
    const bool selected = option.state & QStyle::State_Selected;
    // Selection is a frame and a tint, so that a class colour never reads as "selected".
    QColor tint = pal.highlight().color();
    tint.setAlpha(70);
    p->fillRect(cell, pal.base());
    if (selected)
        p->fillRect(cell, tint);
    if (selected || (option.state & QStyle::State_HasFocus)) {
        p->setPen(QPen(pal.highlight().color(), selected ? 3 : 1, selected ? Qt::SolidLine : Qt::DotLine));
        p->drawRect(cell.adjusted(1, 1, -2, -2));
    }
    const QRect imageArea(cell.x() + (cell.width() - m_size) / 2, cell.y() + 2, m_size, m_size);
    p->fillRect(imageArea, Qt::black);
    const QImage img = index.data(Qt::DecorationRole).value<QImage>();
    const int state = index.data(CatalogueModel::ThumbnailStateRole).toInt();
    if (!img.isNull()) {
        const QSize s = img.size().scaled(imageArea.size(), Qt::KeepAspectRatio);
        const QRect target(imageArea.center().x() - s.width() / 2 + 1, imageArea.center().y() - s.height() / 2 + 1, s.width(), s.height());
        p->drawImage(target, img);
    } else {
        p->setPen(QColor(140, 140, 140));
        p->drawText(imageArea, Qt::AlignCenter, state == 2 ? tr("no preview") : tr("..."));
    }

    const int text = option.fontMetrics.height();
    const QColor classColor = index.data(CatalogueModel::ClassColorRole).value<QColor>();
    const QRect band(cell.x() + 2, imageArea.bottom() + 2, cell.width() - 4, text + 2);
    if (classColor.isValid()) {
        p->fillRect(band, classColor);
        p->setPen(classColor.lightness() > 150 ? Qt::black : Qt::white);
        p->drawText(band.adjusted(3, 0, -3, 0), Qt::AlignVCenter | Qt::AlignLeft,
                    option.fontMetrics.elidedText(index.data(CatalogueModel::ClassNameRole).toString(), Qt::ElideRight, band.width() - 6));
    }
    const QString split = index.data(CatalogueModel::SplitRole).toString();
    if (!split.isEmpty()) {
        QFont f = option.font;
        f.setPointSizeF(f.pointSizeF() * 0.8);
        p->setFont(f);
        const QRect tag(imageArea.right() - 34, imageArea.top() + 2, 32, QFontMetrics(f).height());
        p->fillRect(tag, QColor(0, 0, 0, 160));
        p->setPen(Qt::white);
        p->drawText(tag, Qt::AlignCenter, split);
        p->setFont(option.font);
    }
    const QRect name(cell.x() + 2, band.bottom() + 1, cell.width() - 4, text);
    p->setPen(pal.text().color());
    p->drawText(name, Qt::AlignCenter, option.fontMetrics.elidedText(index.data(Qt::DisplayRole).toString(), Qt::ElideMiddle, name.width()));
    p->restore();
}

} // namespace medsiam::ui
