#pragma once
#include <QWidget>

class QLabel;

namespace medsiam::core {
struct ProjectSummary;
}

namespace medsiam::ui {

/// Shows a project's counts (images, formats, classes, splits, import issues) as text.
class ProjectSummaryView : public QWidget {
    Q_OBJECT
public:
    explicit ProjectSummaryView(QWidget* parent = nullptr);
    void showSummary(const core::ProjectSummary& summary);
    void showPlaceholder();

private:
    QLabel* m_text;
};

} // namespace medsiam::ui
