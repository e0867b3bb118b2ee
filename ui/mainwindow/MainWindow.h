#pragma once
#include <QMainWindow>
#include <memory>

namespace medsiam::core {
class Project;
}

namespace medsiam::ui {

class ProjectSummaryView;

/// The application window. It only assembles views and actions and routes between them;
/// features live in their own folders under ui/.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Opens a project folder; shows a plain-words dialog and returns false when it cannot.
    bool openProject(const QString& dir);

private:
    void chooseProject();
    ProjectSummaryView* m_summary;
    std::unique_ptr<core::Project> m_project;
};

} // namespace medsiam::ui
