#pragma once
#include <QIcon>

namespace medsiam::ui {

/// medsiam's application icon (resources/icons/medsiam.svg), drawn at the sizes window managers
/// and docks ask for. Used for the windows; the desktop entry uses the installed hicolor icons.
QIcon appIcon();

} // namespace medsiam::ui
