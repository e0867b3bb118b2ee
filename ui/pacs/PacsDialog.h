#pragma once
#include "pacs/PacsJob.h"
#include "pacs/PacsSettings.h"

#include <QDialog>

#include <memory>
#include <optional>
#include <vector>

class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTreeWidget;
class QTreeWidgetItem;

namespace medsiam::core {
enum class JobState;
struct SeriesRef;
} // namespace medsiam::core

namespace medsiam::ui {

class ProjectSession;

/// File > Import from PACS: the PACS nodes the user keeps (with Echo to test one), a search form
/// (patient ID, patient name, study date, modality, accession number, description), the studies
/// found with their series and counts, and Retrieve, which brings the ticked series into the
/// project in the background (progress, Cancel) and imports each series as it arrives. Patient
/// names go to the PACS and nowhere else.
class PacsDialog : public QDialog {
    Q_OBJECT
public:
    PacsDialog(ProjectSession& session, QWidget* parent = nullptr);
    ~PacsDialog() override;

    /// Adds a node to the list (and the settings) and selects it: "" or why not.
    QString addNode(const core::PacsNode& node);
    /// The node selected, if any.
    const core::PacsNode* currentNode() const;
    /// C-ECHO to the selected node, in the background; the answer is shown beside the button.
    bool echo();
    /// Searches the selected node with the form's values; false (with the reason shown) when
    /// the form or the node is not valid.
    bool search();
    /// Ticks every series found (or none).
    void checkAll(bool checked);
    /// Retrieves the ticked series into the project; false (with the reason shown) when there
    /// is nothing to retrieve or the settings are not valid.
    bool retrieve();
    bool running() const;
    void cancel();

    QLineEdit* patientIdEdit() const { return m_patientId; }
    QLineEdit* patientNameEdit() const { return m_patientName; }
    QLineEdit* dateEdit() const { return m_date; }
    QLineEdit* modalityEdit() const { return m_modality; }
    QLineEdit* ourAeEdit() const { return m_ourAe; }
    QComboBox* methodBox() const { return m_method; }
    QSpinBox* storagePortBox() const { return m_storagePort; }
    QTreeWidget* results() const { return m_results; }
    QPushButton* retrieveButton() const { return m_retrieve; }
    QPushButton* cancelButton() const { return m_cancel; }
    /// Echo's answer, or why it failed.
    QString echoText() const;
    /// "3 studies, 5 series, 67 instances" or why the search failed.
    QString searchText() const;
    /// The last retrieve's outcome (what arrived, what was imported, every problem).
    QString resultText() const;

Q_SIGNALS:
    /// A series has been imported: the project should be reloaded.
    void imagesArrived();

protected:
    void closeEvent(QCloseEvent* event) override;
    void reject() override;

private:
    QWidget* buildNodeBox();
    QWidget* buildSearchBox();
    QWidget* buildResultsBox();
    void editNode(bool add);
    void reloadNodes(const QString& select);
    void saveConnection();
    void start(std::unique_ptr<PacsJob> job);
    void onFinished(core::JobState state, const QString& message);
    void showStudies();
    void updateChecked();
    void updateButtons();
    std::vector<core::SeriesRef> checkedSeries(qint64* instances) const;
    /// The connection to the selected node; nullopt (with the reason shown in `where`) when
    /// there is no node or medsiam's AE title is not valid.
    std::optional<PacsJob::Connection> connection(QLabel* where) const;

    ProjectSession& m_session;
    PacsSettings m_settings;
    QComboBox* m_nodes;
    QPushButton* m_addNode;
    QPushButton* m_editNode;
    QPushButton* m_removeNode;
    QPushButton* m_echo;
    QLabel* m_echoText;
    QLineEdit* m_ourAe;
    QComboBox* m_method;
    QSpinBox* m_storagePort;
    QSpinBox* m_timeout;
    QLineEdit* m_patientId;
    QLineEdit* m_patientName;
    QLineEdit* m_date;
    QLineEdit* m_modality;
    QLineEdit* m_accession;
    QLineEdit* m_description;
    QPushButton* m_search;
    QLabel* m_searchText;
    QTreeWidget* m_results;
    QLabel* m_checkedText;
    QProgressBar* m_progress;
    QLabel* m_progressText;
    QLabel* m_resultText;
    QPushButton* m_retrieve;
    QPushButton* m_cancel;
    QPushButton* m_close;
    std::unique_ptr<PacsJob> m_job;
};

} // namespace medsiam::ui
