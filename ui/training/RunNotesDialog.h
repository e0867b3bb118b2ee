#pragma once
// Names a run and keeps notes on it ("tried the BN backbone after the GN one collapsed").
#include <QDialog>

class QLineEdit;
class QPlainTextEdit;

namespace medsiam::ui {

class ProjectSession;

/// Edits a run's name and notes; OK stores them through core::RunStore::describe, which refuses
/// a name it cannot keep (in words; the dialog then stays open with what was typed).
class RunNotesDialog : public QDialog {
    Q_OBJECT
public:
    RunNotesDialog(ProjectSession& session, const QString& runId, QWidget* parent = nullptr);
    QLineEdit* title() const { return m_title; }
    QPlainTextEdit* notes() const { return m_notes; }
    /// The last refusal ("" when none).
    QString lastError() const { return m_error; }
    void accept() override;

private:
    ProjectSession& m_session;
    QString m_runId;
    QLineEdit* m_title;
    QPlainTextEdit* m_notes;
    QString m_error;
};

} // namespace medsiam::ui
