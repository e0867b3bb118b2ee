#pragma once
#include <QString>

namespace medsiam::ui {

/// "1 image", "5 images": a count with its noun in the right number, both words passed through
/// tr() by the caller. (Qt's %n, without a translation loaded, prints "5 image(s)".)
inline QString countOf(qint64 n, const QString& one, const QString& many)
{
    return QStringLiteral("%1 %2").arg(n).arg(n == 1 ? one : many);
}

} // namespace medsiam::ui
