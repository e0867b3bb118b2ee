#include "importer/ImportDialog.h"

#include "common/Count.h"
#include "importer/ImportJob.h"
#include "labels/LabelTableBox.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "util/Csv.h"
#include "util/Error.h"

#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSaveFile>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QStackedWidget>
#include <QStandardItemModel>
#include <QStyledItemDelegate>
#include <QTableView>
#include <QTableWidget>
#include <QThread>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace medsiam::ui {

namespace {

QString duration(double seconds)
{
    if (seconds < 0 || !std::isfinite(seconds))
        return QStringLiteral("-");
    if (seconds < 10)
        return QStringLiteral("%1 s").arg(seconds, 0, 'f', 1);
    const int s = static_cast<int>(seconds + 0.5);
    return s >= 60 ? QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60) : QStringLiteral("%1 s").arg(s);
}

/// The issues table's File column: one line, shortened in the middle (the folder's start and the
/// file name stay readable); the Reason column wraps instead, so a long reason is read whole.
class PathDelegate : public QStyledItemDelegate {
public:
    using QStyledItemDelegate::QStyledItemDelegate;

protected:
    void initStyleOption(QStyleOptionViewItem* option, const QModelIndex& index) const override
    {
        QStyledItemDelegate::initStyleOption(option, index);
        option->features &= ~QStyleOptionViewItem::WrapText;
        option->textElideMode = Qt::ElideMiddle;
    }
};

} // namespace

ImportDialog::ImportDialog(ProjectSession& session, const QStringList& sources, QWidget* parent) : QDialog(parent), m_session(session)
{
    setWindowTitle(tr("Import images"));
    m_pages = new QStackedWidget(this);
    m_pages->addWidget(buildOptionsPage());
    m_pages->addWidget(buildProgressPage());
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_pages);
    for (const QString& s : sources)
        addSource(s);
    resize(720, 620);
}

ImportDialog::~ImportDialog() = default;

QWidget* ImportDialog::buildOptionsPage()
{
    auto* page = new QWidget(this);
    auto* sourcesBox = new QGroupBox(tr("Folders and files to import"), page);
    m_sources = new QListWidget(sourcesBox);
    m_sources->setSelectionMode(QAbstractItemView::ExtendedSelection);
    auto* addFolder = new QPushButton(tr("Add folder..."), sourcesBox);
    connect(addFolder, &QPushButton::clicked, this, [this] {
        const QString d = QFileDialog::getExistingDirectory(this, tr("Folder to import"));
        if (!d.isEmpty())
            addSource(d);
    });
    auto* addFiles = new QPushButton(tr("Add files..."), sourcesBox);
    connect(addFiles, &QPushButton::clicked, this, [this] {
        for (const QString& f : QFileDialog::getOpenFileNames(this, tr("Files to import")))
            addSource(f);
    });
    auto* remove = new QPushButton(tr("Remove"), sourcesBox);
    connect(remove, &QPushButton::clicked, this, [this] {
        qDeleteAll(m_sources->selectedItems());
        updateSources();
    });
    auto* sourceButtons = new QVBoxLayout;
    sourceButtons->addWidget(addFolder);
    sourceButtons->addWidget(addFiles);
    sourceButtons->addWidget(remove);
    sourceButtons->addStretch(1);
    auto* sourcesLayout = new QHBoxLayout(sourcesBox);
    sourcesLayout->addWidget(m_sources, 1);
    sourcesLayout->addLayout(sourceButtons);

    auto* optionsBox = new QGroupBox(tr("Options"), page);
    auto* form = new QFormLayout(optionsBox);
    m_resolution = new QSpinBox(optionsBox);
    m_resolution->setRange(16, 4096);
    m_resolution->setSingleStep(32);
    m_resolution->setSuffix(tr(" px"));
    m_resolution->setValue(m_session.cacheResolution());
    const bool empty = m_session.rows().empty();
    m_resolution->setEnabled(empty);
    m_resolution->setToolTip(empty ? tr("Side of the square images kept in the project's cache for browsing and training")
                                   : tr("The cache resolution is fixed once a project holds images"));
    form->addRow(tr("Cache resolution:"), m_resolution);
    m_axis = new QComboBox(optionsBox);
    m_axis->addItem(tr("Axial"), 2);
    m_axis->addItem(tr("Coronal"), 1);
    m_axis->addItem(tr("Sagittal"), 0);
    m_slices = new QSpinBox(optionsBox);
    m_slices->setRange(0, 10000);
    m_slices->setValue(16);
    m_slices->setSpecialValueText(tr("every slice"));
    m_contentOnly = new QCheckBox(tr("skip empty slices"), optionsBox);
    m_contentOnly->setChecked(true);
    auto* slicing = new QHBoxLayout;
    slicing->addWidget(m_axis);
    slicing->addWidget(new QLabel(tr("slices per volume:"), optionsBox));
    slicing->addWidget(m_slices);
    slicing->addWidget(m_contentOnly);
    slicing->addStretch(1);
    form->addRow(tr("Volumes:"), slicing);
    m_folderLabels = new QCheckBox(tr("the first sub-folder under each source names the class"), optionsBox);
    form->addRow(tr("Labels:"), m_folderLabels);
    m_keepDuplicates = new QCheckBox(tr("import files whose content is already in the project"), optionsBox);
    form->addRow(tr("Duplicates:"), m_keepDuplicates);

    m_table = new LabelTableBox(tr("Label table (CSV, optional)"), m_session.project(), page);

    m_import = new QPushButton(tr("Import"), page);
    m_import->setDefault(true);
    connect(m_import, &QPushButton::clicked, this, &ImportDialog::startImport);
    auto* cancel = new QPushButton(tr("Cancel"), page);
    connect(cancel, &QPushButton::clicked, this, &QDialog::reject);
    auto* buttons = new QHBoxLayout;
    buttons->addStretch(1);
    buttons->addWidget(cancel);
    buttons->addWidget(m_import);

    auto* layout = new QVBoxLayout(page);
    layout->addWidget(sourcesBox, 1);
    layout->addWidget(optionsBox);
    layout->addWidget(m_table);
    layout->addLayout(buttons);
    return page;
}

QWidget* ImportDialog::buildProgressPage()
{
    auto* page = new QWidget(this);
    m_progress = new QProgressBar(page);
    m_progress->setRange(0, 0);
    m_progressText = new QLabel(tr("Looking for files ..."), page);
    m_cancel = new QPushButton(tr("Cancel import"), page);
    m_cancel->setToolTip(tr("Stops after the files being decoded; everything imported so far is kept"));
    connect(m_cancel, &QPushButton::clicked, this, [this] {
        if (m_job) {
            m_job->cancel();
            m_cancel->setEnabled(false);
            m_progressText->setText(tr("Cancelling ..."));
        }
    });
    m_resultText = new QLabel(page);
    m_resultText->setWordWrap(true);
    m_issues = new QStandardItemModel(0, 2, this);
    m_issues->setHorizontalHeaderLabels({tr("File"), tr("Reason")});
    auto* proxy = new QSortFilterProxyModel(this);
    proxy->setSourceModel(m_issues);
    proxy->setSortCaseSensitivity(Qt::CaseInsensitive);
    m_issuesView = new QTableView(page);
    m_issuesView->setModel(proxy);
    m_issuesView->setSortingEnabled(true);
    m_issuesView->sortByColumn(1, Qt::AscendingOrder);
    // A long path is shortened in the middle (its folder and file name stay readable, the whole
    // of it is in the tooltip) and never pushes the Reason column off screen.
    m_issuesView->horizontalHeader()->setStretchLastSection(true);
    m_issuesView->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Interactive);
    m_issuesView->setItemDelegateForColumn(0, new PathDelegate(m_issuesView));
    m_issuesView->setSizeAdjustPolicy(QAbstractScrollArea::AdjustIgnored);
    m_issuesView->verticalHeader()->hide();
    m_issuesView->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_issuesView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_issuesView->setWordWrap(true);
    m_export = new QPushButton(tr("Export list..."), page);
    m_export->setEnabled(false);
    connect(m_export, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Export skipped files"), QStringLiteral("import-issues.csv"),
                                                       tr("CSV files (*.csv)"));
        if (!f.isEmpty())
            exportIssues(f);
    });
    m_close = new QPushButton(tr("Close"), page);
    m_close->setEnabled(false);
    connect(m_close, &QPushButton::clicked, this, &QDialog::accept);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_export);
    buttons->addStretch(1);
    buttons->addWidget(m_cancel);
    buttons->addWidget(m_close);
    auto* layout = new QVBoxLayout(page);
    layout->addWidget(m_progress);
    layout->addWidget(m_progressText);
    layout->addWidget(m_resultText);
    layout->addWidget(m_issuesView, 1);
    layout->addLayout(buttons);
    return page;
}

void ImportDialog::addSource(const QString& path)
{
    const QString p = QDir::cleanPath(QFileInfo(path).absoluteFilePath());
    for (int i = 0; i < m_sources->count(); ++i)
        if (m_sources->item(i)->text() == p)
            return;
    m_sources->addItem(p);
    updateSources();
}

void ImportDialog::updateSources()
{
    std::vector<std::string> sources;
    for (int i = 0; i < m_sources->count(); ++i)
        sources.push_back(m_sources->item(i)->text().toStdString());
    m_table->setSources(sources);
}

bool ImportDialog::startImport()
{
    if (m_job)
        return false;
    core::ImportOptions o;
    for (int i = 0; i < m_sources->count(); ++i)
        o.sources.push_back(m_sources->item(i)->text().toStdString());
    if (o.sources.empty()) {
        QMessageBox::information(this, tr("Import"), tr("Add a folder or files to import first."));
        return false;
    }
    // Leave one core to the interface, so that it stays responsive on small machines.
    o.threads = std::max(1, QThread::idealThreadCount() - 1);
    o.slicing.axis = m_axis->currentData().toInt();
    o.slicing.count = m_slices->value();
    o.slicing.contentOnly = m_contentOnly->isChecked();
    o.labelsFromFolders = m_folderLabels->isChecked();
    o.keepDuplicates = m_keepDuplicates->isChecked();
    if (const std::optional<core::LabelCsvOptions> l = m_table->options()) {
        try {
            core::checkLabelCsv(*l);
        } catch (const core::UserError& e) {
            QMessageBox::warning(this, tr("Label table"), QString::fromStdString(e.what()));
            return false;
        }
        o.labels = *l;
    }
    try {
        if (m_resolution->isEnabled() && m_resolution->value() != m_session.cacheResolution()) {
            m_session.project().setSetting("cache_resolution", std::to_string(m_resolution->value()));
            m_session.reload();
        }
    } catch (const core::UserError& e) {
        QMessageBox::warning(this, tr("Import"), QString::fromStdString(e.what()));
        return false;
    }
    m_pages->setCurrentIndex(1);
    m_job = std::make_unique<ImportJob>(m_session.dir(), o);
    connect(m_job.get(), &ImportJob::scanned, this, [this](qint64 files) {
        m_progress->setRange(0, static_cast<int>(std::max<qint64>(files, 1)));
        m_progressText->setText(tr("%1 found; decoding ...").arg(countOf(files, tr("file"), tr("files"))));
    });
    connect(m_job.get(), &ImportJob::progress, this, [this](qint64 done, qint64 total, qint64 items, double fps, double eta) {
        m_progress->setRange(0, static_cast<int>(std::max<qint64>(total, 1)));
        m_progress->setValue(static_cast<int>(done));
        m_progressText->setText(tr("%1 of %2 files, %3 images added, %4 files/s, about %5 left")
                                    .arg(done)
                                    .arg(total)
                                    .arg(items)
                                    .arg(fps, 0, 'f', 0)
                                    .arg(duration(eta)));
    });
    connect(m_job.get(), &ImportJob::finished, this, &ImportDialog::onFinished);
    m_job->start();
    return true;
}

bool ImportDialog::running() const { return m_job && m_job->running(); }

QString ImportDialog::resultText() const { return m_resultText->text(); }

void ImportDialog::onFinished(core::JobState state, const QString& error)
{
    const core::ImportSummary& s = m_job->summary();
    m_cancel->setEnabled(false);
    m_close->setEnabled(true);
    m_progress->setRange(0, 1);
    m_progress->setValue(1);
    for (const auto& [path, reason] : m_job->issues()) {
        auto* file = new QStandardItem(path);
        file->setToolTip(path);
        auto* why = new QStandardItem(reason);
        why->setToolTip(reason);
        m_issues->appendRow({file, why});
    }
    fitIssueColumns();
    m_export->setEnabled(m_issues->rowCount() > 0);
    QString text;
    if (state == core::JobState::Failed) {
        text = tr("The import stopped: %1").arg(error);
        QMessageBox::warning(this, tr("Import failed"), text);
    } else if (s.filesFound == 0 && !s.cancelled) {
        QStringList sources;
        for (int i = 0; i < m_sources->count(); ++i)
            sources << QDir::toNativeSeparators(m_sources->item(i)->text());
        text = tr("Nothing was imported: no files were found in %1. Choose a folder that holds images (DICOM, NIfTI, "
                  "PNG, JPEG, TIFF ...); its sub-folders are searched too.")
                   .arg(sources.join(tr(", ")));
    } else {
        text = tr("%1%2 of %3 files imported (%4 images) in %5. %6 already in the project. %7 not imported (listed below).")
                   .arg(s.cancelled ? tr("Cancelled. ") : QString())
                   .arg(s.filesImported)
                   .arg(s.filesFound)
                   .arg(s.itemsAdded)
                   .arg(duration(s.seconds))
                   .arg(s.filesAlreadyPresent)
                   .arg(s.filesWithIssues);
        if (s.labels)
            text += tr(" Label table: %1 of %2 rows matched, %3 images labeled.").arg(s.labels->matchedRows).arg(s.labels->rows).arg(s.labels->imagesLabeled);
    }
    m_progressText->setText(QString());
    m_resultText->setText(text);
    Q_EMIT importFinished();
}

void ImportDialog::fitIssueColumns()
{
    // File gets what its paths need, up to 60% of the table; Reason the rest.
    m_issuesView->resizeColumnToContents(0);
    const int room = m_issuesView->viewport()->width();
    const int cap = std::max(120, room * 3 / 5);
    if (m_issuesView->columnWidth(0) > cap)
        m_issuesView->setColumnWidth(0, cap);
    if (m_issues->rowCount() <= 2000) // a long reason wraps onto more lines (measuring costs a layout per row)
        m_issuesView->resizeRowsToContents();
}

void ImportDialog::resizeEvent(QResizeEvent* event)
{
    QDialog::resizeEvent(event);
    if (m_issuesView && m_issues->rowCount() > 0)
        fitIssueColumns();
}

bool ImportDialog::exportIssues(const QString& path)
{
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly)) {
        QMessageBox::warning(this, tr("Export"), tr("Cannot write %1: %2").arg(path, f.errorString()));
        return false;
    }
    std::string out = "file,reason\n";
    const QAbstractItemModel* m = m_issuesView->model(); // in the order shown
    for (int r = 0; r < m->rowCount(); ++r)
        out += core::csvField(m->index(r, 0).data().toString().toStdString()) + "," +
               core::csvField(m->index(r, 1).data().toString().toStdString()) + "\n";
    f.write(out.data(), static_cast<qint64>(out.size()));
    if (!f.commit()) {
        QMessageBox::warning(this, tr("Export"), tr("Cannot write %1: %2").arg(path, f.errorString()));
        return false;
    }
    return true;
}

void ImportDialog::closeEvent(QCloseEvent* event)
{
    if (running()) {
        event->ignore();
        return;
    }
    QDialog::closeEvent(event);
}

void ImportDialog::reject()
{
    if (running()) {
        // Escape while importing asks to cancel; the dialog stays until the job has stopped.
        m_cancel->click();
        return;
    }
    QDialog::reject();
}

} // namespace medsiam::ui
