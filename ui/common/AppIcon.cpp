#include "common/AppIcon.h"

#include <QImage>
#include <QPainter>
#include <QPixmap>
#include <QSvgRenderer>

// Resources compiled into a static library are registered by name (resources/medsiam.qrc).
static void initMedsiamResources() { Q_INIT_RESOURCE(medsiam); }

namespace medsiam::ui {

QIcon appIcon()
{
    // Drawn each time (a few milliseconds, a few calls): a static QIcon would outlive QApplication.
    initMedsiamResources();
    QSvgRenderer svg(QStringLiteral(":/icons/medsiam.svg"));
    QIcon out;
    for (int side : {16, 22, 24, 32, 48, 64, 128, 256}) {
        QImage image(side, side, QImage::Format_ARGB32_Premultiplied);
        image.fill(Qt::transparent);
        QPainter painter(&image);
        svg.render(&painter);
        painter.end();
        out.addPixmap(QPixmap::fromImage(image));
    }
    return out;
}

} // namespace medsiam::ui
