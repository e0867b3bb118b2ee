#pragma once
// The Help menu's windows: the user guide, the keyboard shortcuts (read from the window's own
// actions, so the list cannot drift from what the keys do) and About medsiam.
#include <QDialog>
#include <QList>
#include <QString>

class QAction;
class QTableWidget;
class QTextBrowser;

namespace medsiam::ui {

/// One keyboard shortcut as the Keyboard Shortcuts window lists it.
struct ShortcutEntry {
    QString keys;   ///< e.g. "Ctrl+I", several joined by ", "
    QString action; ///< the action's text without '&' and "..."
    QString where;  ///< the menu path ("File"), or the view whose action it is ("Embedding map")
    QAction* source = nullptr;
};

/// Every action under `window` that has a shortcut, in menu order, then the actions outside the
/// menus (grouped by their "helpGroup" property); an action whose "helpHidden" property is set
/// (a class key that no class holds) is left out.
QList<ShortcutEntry> collectShortcuts(QWidget* window);

class ShortcutsDialog : public QDialog {
    Q_OBJECT
public:
    explicit ShortcutsDialog(QWidget* window, QWidget* parent = nullptr);
    QTableWidget* table() const { return m_table; }

private:
    QTableWidget* m_table = nullptr;
};

class AboutDialog : public QDialog {
    Q_OBJECT
public:
    explicit AboutDialog(QWidget* parent = nullptr);
    /// The text shown (version, build, licences), for tests and the clipboard.
    QString text() const { return m_text; }

private:
    QString m_text;
};

/// docs/USER_GUIDE.md where this installation keeps it: /usr/share/doc/medsiam beside an installed
/// binary, the source tree's docs/ in a build tree; empty when neither has it.
QString userGuidePath();

class UserGuideDialog : public QDialog {
    Q_OBJECT
public:
    /// Shows the guide at `path` (Markdown, its screenshots beside it).
    explicit UserGuideDialog(const QString& path, QWidget* parent = nullptr);
    QTextBrowser* browser() const { return m_browser; }

private:
    QTextBrowser* m_browser = nullptr;
};

} // namespace medsiam::ui
