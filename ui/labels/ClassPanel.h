#pragma once
#include <QDialog>
#include <QWidget>

class QTableWidget;
class QLabel;

namespace medsiam::ui {

class ProjectSession;

/// The class list with live counts: colour, name, key and number of labeled images, plus the
/// unlabeled count. Double-clicking a class labels the browser's selection with it.
class ClassPanel : public QWidget {
    Q_OBJECT
public:
    explicit ClassPanel(ProjectSession& session, QWidget* parent = nullptr);
    QTableWidget* table() const { return m_table; }

Q_SIGNALS:
    void classActivated(qint64 classId);
    void editSchemaRequested();

private:
    void refill();
    void updateCounts();
    ProjectSession& m_session;
    QTableWidget* m_table;
    QLabel* m_unlabeled;
};

/// Edits the class schema: names, colours and keys 1-9; adds and removes classes. Changes are
/// checked (unique names and keys) and written when the user presses OK.
class ClassSchemaDialog : public QDialog {
    Q_OBJECT
public:
    explicit ClassSchemaDialog(ProjectSession& session, QWidget* parent = nullptr);
    QTableWidget* table() const { return m_table; }
    void accept() override;

private:
    void addRow(qint64 id, const QString& name, const QColor& color, const QString& shortcut);
    void removeSelected();
    ProjectSession& m_session;
    QTableWidget* m_table;
    QList<qint64> m_removed;
};

} // namespace medsiam::ui
