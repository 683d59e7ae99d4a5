"""gunicorn's threaded worker, draining its listening socket when it stops gracefully.

A graceful stop stops accepting at once: connections the kernel had queued on the listening socket (clients that
connected just before) were reset when the socket closed. This worker accepts every one of them first and answers
them within the graceful timeout; only a client that connects in the moment between that and the socket's closing
can still be turned away.
"""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker


class DrainingThreadWorker(ThreadWorker):
    def set_accept_enabled(self, enabled: bool) -> None:
        if not enabled and not self.alive:  # a graceful stop: take in what is waiting first
            for listener in self.sockets:
                self._drain(listener)
        super().set_accept_enabled(enabled)

    def _drain(self, listener) -> None:
        listener.setblocking(False)
        while True:
            accepted = self.nr_conns
            self.accept(listener)  # returns without a connection when none is waiting
            if self.nr_conns == accepted:
                return
