#pragma once
// For tests of code that opens a modal dialog: act on the dialog once it is shown.
#include <QApplication>
#include <QTimer>

#include <functional>

namespace medsiam::test {

/// Runs `act` on the next modal dialog of type T once it is shown (polling the event loop every
/// 20 ms); call it before the code that opens the dialog.
template <class T>
void onModal(std::function<void(T*)> act)
{
    auto* timer = new QTimer;
    timer->setInterval(20);
    QObject::connect(timer, &QTimer::timeout, [timer, act] {
        if (auto* d = qobject_cast<T*>(QApplication::activeModalWidget())) {
            timer->stop();
            timer->deleteLater();
            act(d);
        }
    });
    timer->start();
}

} // namespace medsiam::test
