#include "viewer/ViewerPanel.h"

#include "io/SourceImage.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "util/Error.h"
#include "viewer/ImageView.h"

#include <QComboBox>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QSlider>
#include <QTableWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace medsiam::ui {

namespace {

// A decode's outcome: the frame, or the reason it failed.
struct DecodeResult {
    core::SourceFrame frame;
    QString error;
};

struct TagsResult {
    std::vector<core::SourceTag> tags;
    QString error;
};

} // namespace

ViewerPanel::ViewerPanel(ProjectSession& session, QWidget* parent) : QWidget(parent), m_session(session)
{
    m_view = new ImageView(this);
    m_presets = new QComboBox(this);
    m_presets->setToolTip(tr("Window preset (right-drag on the image to window freely)"));
    m_presets->addItem(tr("Window: file default"));
    for (const auto& p : core::ctWindowPresets())
        m_presets->addItem(tr("%1 (W %2 L %3)").arg(QString::fromStdString(p.name)).arg(p.window.width).arg(p.window.centre));
    connect(m_presets, QOverload<int>::of(&QComboBox::activated), this, &ViewerPanel::applyPreset);
    auto* reset = new QToolButton(this);
    reset->setText(tr("Reset"));
    reset->setToolTip(tr("Back to the file's own window"));
    connect(reset, &QToolButton::clicked, this, [this] {
        m_view->resetWindow();
        m_presets->setCurrentIndex(0);
    });
    auto* fit = new QToolButton(this);
    fit->setText(tr("Fit"));
    fit->setToolTip(tr("Fit the image to the view (or double-click it)"));
    connect(fit, &QToolButton::clicked, m_view, &ImageView::fitToView);
    m_frame = new QSlider(Qt::Horizontal, this);
    m_frame->setToolTip(tr("Frame or slice"));
    m_frame->setEnabled(false);
    m_frameLabel = new QLabel(this);
    connect(m_frame, &QSlider::valueChanged, this, [this](int f) {
        m_frameLabel->setText(tr("frame %1 / %2").arg(f + 1).arg(m_frame->maximum() + 1));
        if (!m_path.isEmpty())
            decode(m_path, f, m_sliceAxis, true);
    });
    m_info = new QLabel(this);
    m_info->setTextInteractionFlags(Qt::TextSelectableByMouse);
    connect(m_view, &ImageView::hoverInfo, m_info, &QLabel::setText);

    auto* bar = new QHBoxLayout;
    bar->addWidget(m_presets);
    bar->addWidget(reset);
    bar->addWidget(fit);
    bar->addStretch(1);
    auto* frames = new QHBoxLayout;
    frames->addWidget(m_frame, 1);
    frames->addWidget(m_frameLabel);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(bar);
    layout->addWidget(m_view, 1);
    layout->addLayout(frames);
    layout->addWidget(m_info);
}

ViewerPanel::~ViewerPanel() = default;

bool ViewerPanel::loading() const { return m_running > 0; }

void ViewerPanel::applyPreset(int index)
{
    m_presets->setCurrentIndex(index);
    if (index <= 0) {
        m_view->resetWindow();
        return;
    }
    m_view->setWindow(core::ctWindowPresets()[index - 1].window);
}

void ViewerPanel::showImage(int64_t imageId)
{
    const int r = m_session.rowOf(imageId);
    if (r < 0) {
        m_path.clear();
        m_view->showMessage(QString());
        m_frame->setEnabled(false);
        m_frameLabel->clear();
        Q_EMIT sourceChanged(QString());
        return;
    }
    const core::CatalogueRow& row = m_session.rows()[r];
    m_path = QString::fromStdString(row.sourcePath);
    m_sliceAxis = row.sliceAxis;
    {
        const QSignalBlocker block(m_frame);
        m_frame->setRange(0, std::max(row.frameCount - 1, 0));
        m_frame->setValue(row.frameIndex);
        m_frame->setEnabled(row.frameCount > 1);
    }
    m_frameLabel->setText(row.frameCount > 1 ? tr("frame %1 / %2").arg(row.frameIndex + 1).arg(row.frameCount) : QString());
    m_presets->setCurrentIndex(0);
    // The presets are in Hounsfield units: they mean something for CT only.
    const bool ct = row.modality == "CT";
    m_presets->setEnabled(ct);
    m_presets->setToolTip(ct ? tr("Window preset (right-drag on the image to window freely)")
                             : tr("Presets are for CT; right-drag on the image to window it"));
    decode(m_path, row.frameIndex, row.sliceAxis, false);
    Q_EMIT sourceChanged(m_path);
}

void ViewerPanel::decode(const QString& path, int frame, int sliceAxis, bool keepWindow)
{
    const int generation = ++m_generation;
    if (m_running > 0) {
        m_pending = Request{path, frame, sliceAxis, keepWindow};
        if (!keepWindow || !m_view->hasImage())
            m_view->showMessage(tr("Loading %1 ...").arg(path.section(QLatin1Char('/'), -1)));
        return;
    }
    if (!keepWindow || !m_view->hasImage())
        m_view->showMessage(tr("Loading %1 ...").arg(path.section(QLatin1Char('/'), -1)));
    ++m_running;
    auto* watcher = new QFutureWatcher<DecodeResult>(this);
    connect(watcher, &QFutureWatcher<DecodeResult>::finished, this, [this, watcher, generation, keepWindow] {
        watcher->deleteLater();
        --m_running;
        if (m_pending) {
            const Request next = *m_pending;
            m_pending.reset();
            decode(next.path, next.frame, next.sliceAxis, next.keepWindow);
            return; // the user has moved on
        }
        if (generation != m_generation)
            return;
        const DecodeResult r = watcher->result();
        if (!r.error.isEmpty()) {
            m_view->showMessage(tr("Cannot show this image:\n%1").arg(r.error));
            Q_EMIT statusMessage(r.error);
        } else if (keepWindow) {
            m_view->replaceFrame(r.frame.frame);
        } else {
            m_view->setFrame(r.frame.frame);
        }
        Q_EMIT loaded();
    });
    const std::string p = path.toStdString();
    watcher->setFuture(QtConcurrent::run([p, frame, sliceAxis] {
        DecodeResult r;
        try {
            r.frame = core::decodeSourceFrame(p, frame, sliceAxis);
        } catch (const std::exception& e) {
            r.error = QString::fromStdString(e.what());
        }
        return r;
    }));
}

TagsPanel::TagsPanel(QWidget* parent) : QWidget(parent)
{
    m_filter = new QLineEdit(this);
    m_filter->setPlaceholderText(tr("Filter tags (name, number or value)"));
    m_filter->setClearButtonEnabled(true);
    connect(m_filter, &QLineEdit::textChanged, this, &TagsPanel::applyFilter);
    m_table = new QTableWidget(0, 3, this);
    m_table->setHorizontalHeaderLabels({tr("Tag"), tr("Name"), tr("Value")});
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->verticalHeader()->hide();
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setWordWrap(false);
    m_status = new QLabel(this);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addWidget(m_filter);
    layout->addWidget(m_table, 1);
    layout->addWidget(m_status);
}

void TagsPanel::showFile(const QString& path)
{
    if (path == m_path)
        return;
    m_path = path;
    const int generation = ++m_generation;
    m_table->setRowCount(0);
    if (path.isEmpty()) {
        m_status->clear();
        return;
    }
    m_status->setText(tr("Reading %1 ...").arg(path.section(QLatin1Char('/'), -1)));
    ++m_running;
    auto* watcher = new QFutureWatcher<TagsResult>(this);
    connect(watcher, &QFutureWatcher<TagsResult>::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        --m_running;
        if (generation != m_generation)
            return;
        const TagsResult r = watcher->result();
        if (!r.error.isEmpty()) {
            m_status->setText(tr("Cannot read the attributes: %1").arg(r.error));
        } else {
            m_table->setRowCount(static_cast<int>(r.tags.size()));
            for (int i = 0; i < static_cast<int>(r.tags.size()); ++i) {
                m_table->setItem(i, 0, new QTableWidgetItem(QString::fromStdString(r.tags[i].tag)));
                m_table->setItem(i, 1, new QTableWidgetItem(QString::fromStdString(r.tags[i].name)));
                m_table->setItem(i, 2, new QTableWidgetItem(QString::fromStdString(r.tags[i].value)));
            }
            m_table->resizeColumnsToContents();
            // Long attribute names must not push the values out of a narrow dock.
            m_table->setColumnWidth(1, std::min(m_table->columnWidth(1), 190));
            m_status->setText(m_path);
            applyFilter();
        }
        Q_EMIT loaded();
    });
    const std::string p = path.toStdString();
    watcher->setFuture(QtConcurrent::run([p] {
        TagsResult r;
        try {
            r.tags = core::readSourceTags(p);
        } catch (const std::exception& e) {
            r.error = QString::fromStdString(e.what());
        }
        return r;
    }));
}

void TagsPanel::applyFilter()
{
    const QString f = m_filter->text().trimmed();
    for (int r = 0; r < m_table->rowCount(); ++r) {
        bool match = f.isEmpty();
        for (int c = 0; c < 3 && !match; ++c)
            match = m_table->item(r, c) && m_table->item(r, c)->text().contains(f, Qt::CaseInsensitive);
        m_table->setRowHidden(r, !match);
    }
}

} // namespace medsiam::ui
