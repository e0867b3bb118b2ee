#pragma once
#include <QDialog>
#include <QStringList>

#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QStackedWidget;
class QStandardItemModel;
class QTableView;
class QTableWidget;

namespace medsiam::core {
struct ImportSummary;
enum class JobState;
} // namespace medsiam::core

namespace medsiam::ui {

class ImportJob;
class LabelTableBox;
class ProjectSession;

/// Imports folders into the open project: sources, cache resolution (while the project is
/// empty), volume slicing, labels from sub-folders or a CSV (its columns, with a preview of
/// matched and unmatched keys). The import runs in the background with progress, files/s and
/// Cancel; at the end a sortable table lists every file that was not imported and why, and can
/// be exported as CSV.
class ImportDialog : public QDialog {
    Q_OBJECT
public:
    ImportDialog(ProjectSession& session, const QStringList& sources, QWidget* parent = nullptr);
    ~ImportDialog() override;

    void addSource(const QString& path);
    /// Starts the import with the options shown; false (with a message) when they are incomplete.
    bool startImport();
    bool running() const;
    QPushButton* importButton() const { return m_import; }
    QPushButton* cancelButton() const { return m_cancel; }
    QTableView* issuesTable() const { return m_issuesView; }
    /// The summary shown when the import has ended.
    QString resultText() const;
    LabelTableBox* labelTable() const { return m_table; }
    QSpinBox* resolutionBox() const { return m_resolution; }
    /// Writes the issues table to a CSV file; false (with a message) when it cannot.
    bool exportIssues(const QString& path);

Q_SIGNALS:
    /// Images were added or labels changed: the project should be reloaded.
    void importFinished();

protected:
    void closeEvent(QCloseEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void reject() override;

private:
    QWidget* buildOptionsPage();
    QWidget* buildProgressPage();
    void updateSources();
    void onFinished(core::JobState state, const QString& error);
    void fitIssueColumns();
    ProjectSession& m_session;
    QStackedWidget* m_pages;
    QListWidget* m_sources;
    QSpinBox* m_resolution;
    QComboBox* m_axis;
    QSpinBox* m_slices;
    QCheckBox* m_contentOnly;
    QCheckBox* m_folderLabels;
    QCheckBox* m_keepDuplicates;
    LabelTableBox* m_table;
    QPushButton* m_import;
    QProgressBar* m_progress;
    QLabel* m_progressText;
    QPushButton* m_cancel;
    QLabel* m_resultText;
    QStandardItemModel* m_issues = nullptr;
    QTableView* m_issuesView = nullptr;
    QPushButton* m_export;
    QPushButton* m_close;
    std::unique_ptr<ImportJob> m_job;
};

} // namespace medsiam::ui
