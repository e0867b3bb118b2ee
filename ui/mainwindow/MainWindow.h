#pragma once
#include <QMainWindow>
#include <QStringList>

#include <functional>
#include <memory>

class QAction;
class QDockWidget;
class QLabel;
class QMenu;
class QStackedWidget;

namespace medsiam::ui {

class BrowserView;
class CompareRunsDialog;
class ExperimentDialog;
class TrainClassifierDialog;
class ReviewDialog;
class ShortcutsDialog;
class AboutDialog;
class UserGuideDialog;
class ClassPanel;
class ImportDialog;
class PacsDialog;
class MapPanel;
class TrainingPanel;
class ResultsPanel;
class ProjectSession;
class ProjectSummaryView;
class TagsPanel;
class ViewerPanel;

/// The application window. It assembles the views (browser in the centre; viewer, tags,
/// classes and project summary in docks) and the actions, and routes between them; every
/// feature lives in its own folder under ui/.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Opens a project folder; shows a plain-words dialog and returns false when it cannot.
    bool openProject(const QString& dir);
    /// Creates a project in an empty or new folder and opens it; false (with a dialog) on error.
    bool createProject(const QString& dir, int cacheResolution = 256);
    /// Closes the project and its views; false (with a message) while an import into it runs.
    bool closeProject();
    /// Opens the import dialog for the open project with these sources (non-modal).
    ImportDialog* showImportDialog(const QStringList& sources = {});
    /// File > Import from PACS for the open project (non-modal; one at a time). nullptr, with a
    /// message, without a writable project or in a build without DICOM networking.
    PacsDialog* showPacsDialog();

    ProjectSession* session() const { return m_session.get(); }
    BrowserView* browser() const { return m_browser; }
    ViewerPanel* viewer() const { return m_viewer; }
    TagsPanel* tags() const { return m_tags; }
    ClassPanel* classPanel() const { return m_classes; }
    MapPanel* mapPanel() const { return m_map; }
    TrainingPanel* trainingPanel() const { return m_training; }
    ResultsPanel* resultsPanel() const { return m_results; }
    /// Shows the classification results dock.
    void showResults();
    /// Shows the training dock.
    void showTraining();
    /// Shows the embedding map dock (and gives it the focus).
    void showMap();
    /// Train > Compare Runs (non-modal); the dialog.
    CompareRunsDialog* showCompareRuns();
    /// Train > New Experiment (non-modal); the dialog.
    ExperimentDialog* showExperiment();
    /// Train > Train a Classifier (non-modal, one at a time); the dialog.
    TrainClassifierDialog* showTrainClassifier();
    /// Review Predictions (raised when open); with `predict`, the chosen classifier (the newest)
    /// classifies the unlabeled images first when it has not classified them all yet.
    ReviewDialog* showReview(bool predict);
    /// Help menu: Keyboard Shortcuts, About, User Guide (non-modal, one of each; the guide is
    /// nullptr, with a message, when it is not installed).
    ShortcutsDialog* showShortcuts();
    AboutDialog* showAbout();
    UserGuideDialog* showUserGuide();
    QStringList recentProjects() const;

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;
    void closeEvent(QCloseEvent* event) override;

private:
    /// Replaces the open project by the one `makeSession` opens or creates; a UserError becomes
    /// a dialog titled `failureTitle` and the open project stays, as it does when `makeSession`
    /// returns null (the user cancelled).
    bool switchTo(const std::function<std::unique_ptr<ProjectSession>()>& makeSession, const QString& failureTitle);
    /// Opens a project; when another program writes to it, asks whether to open it read-only;
    /// when its catalogue is damaged, offers to restore the newest backup. Null: cancelled.
    std::unique_ptr<ProjectSession> openSession(const QString& dir);
    /// Reopens a read-only project for editing once the program writing to it has finished.
    void reopenForEditing();
    void buildActions();
    void buildDocks();
    void attachSession();
    void updateRecentMenu();
    void rememberRecent(const QString& dir);
    void updateActions();
    void updateStatus();
    /// The images a label key applies to: the map's selection while the map has the focus and a
    /// selection, else the browser's.
    QVector<qint64> labelTargets() const;
    void labelSelection(const QString& key);
    /// The Label menu's entries: one per class with a key, named by the class.
    void updateLabelMenu();
    /// Raises the open `Dialog` or shows a new one from `make` (deleted on close).
    template <typename Dialog, typename Make>
    Dialog* raiseOrShow(Make make);
    /// The guided dialog's signals to the runs list, the results and the expert dialogs.
    void wireTrainClassifier(TrainClassifierDialog* d);
    void clearSelectionLabels();
    void newProjectDialog();
    void chooseProject();
    void importLabelsCsv();
    void exportLabelsCsv();
    void editClasses();
    void editSplits();
    void showError(const QString& title, const QString& message);
    /// True (after telling the user) when an import into the open project is running.
    bool importRunning();
    /// True when a project is open for editing; otherwise says why nothing can be imported, in
    /// a message box titled `title`.
    bool projectTakesImports(const QString& title);
    /// After images arrived: the project reloaded, and `message` (with %1: the project's image
    /// count) in the status bar.
    void reloadAfterImport(const QString& message);

    std::unique_ptr<ProjectSession> m_session;
    QStackedWidget* m_central;
    ProjectSummaryView* m_welcome;
    ProjectSummaryView* m_summary = nullptr;
    BrowserView* m_browser = nullptr;
    ViewerPanel* m_viewer = nullptr;
    TagsPanel* m_tags = nullptr;
    ClassPanel* m_classes = nullptr;
    MapPanel* m_map = nullptr;
    TrainingPanel* m_training = nullptr;
    ResultsPanel* m_results = nullptr;
    QDockWidget* m_viewerDock;
    QDockWidget* m_tagsDock;
    QDockWidget* m_classesDock;
    QDockWidget* m_summaryDock;
    QDockWidget* m_mapDock;
    QDockWidget* m_trainingDock;
    QDockWidget* m_resultsDock;
    /// Shows an image in the browser, or in the viewer alone when the browser's filter hides it.
    void showImageAnywhere(qint64 imageId);
    bool m_closing = false;
    /// True (after asking) when no run trains, or the user chose to stop it.
    bool trainingMayStop();
    QMenu* m_recentMenu;
    QMenu* m_viewMenu;
    QList<QAction*> m_projectActions;
    QList<QAction*> m_writeActions; ///< also off while the project is open read-only
    QAction* m_reopenWritable = nullptr;
    QLabel* m_readOnlyLabel;
    QAction* m_undo = nullptr;
    QAction* m_redo = nullptr;
    QAction* m_advance;
    QMenu* m_labelMenu = nullptr;
    QAction* m_clearLabel = nullptr;
    QList<QAction*> m_keyActions; ///< keys 1-9 and 0, in that order
    QLabel* m_counts;
};

} // namespace medsiam::ui
