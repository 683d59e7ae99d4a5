"""gunicorn's threaded worker, answering what it had taken in when it stops gracefully.

On a graceful stop the worker's loop ends at once: connections the kernel had queued on the listening socket
(clients that connected just before) were reset when the socket closed, and connections it had accepted but whose
request had not been read yet were dropped with the poller. This worker, when its loop has ended (it shuts its
thread pool down then, whenever the stop came: even while it was still loading the model, before its loop ever
ran), accepts every waiting connection and hands every new one to its threads, which answer them within the
graceful timeout; only a client that connects in the moment between that and the socket's closing can still be
turned away. Idle kept-alive connections are closed, as before; a quick stop (SIGINT, SIGQUIT) drains nothing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gunicorn.workers.gthread import ThreadWorker


class DrainingThreadWorker(ThreadWorker):
    quitting = False  # a quick stop: go at once

    def get_thread_pool(self) -> ThreadPoolExecutor:
        return _DrainingPool(self)

    def handle_quit(self, sig, frame) -> None:
        self.quitting = True
        super().handle_quit(sig, frame)

    def drain(self) -> None:
        """Accept every connection waiting on the listening sockets and hand every new one to the threads."""
        for listener in self.sockets:
            server = listener.getsockname()
            while True:  # counted by the poller: threads finishing requests change nr_conns meanwhile
                waiting = len(self.poller.get_map())
                self.accept(server, listener)  # registers the connection, or returns when none is waiting
                if len(self.poller.get_map()) == waiting:
                    break
        for key in list(self.poller.get_map().values()):
            callback = key.data
            if getattr(callback, "func", None) == self.on_client_socket_readable and not callback.args[0].initialized:
                callback(key.fileobj)  # a new connection: to a thread, which reads and answers its request


class _DrainingPool(ThreadPoolExecutor):
    """The worker's threads. The worker shuts them down when its loop has ended: on a graceful stop, after it has
    handed them what waits."""

    def __init__(self, worker: DrainingThreadWorker):
        super().__init__(max_workers=worker.cfg.threads)
        self._worker = worker

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if not self._worker.alive and not self._worker.quitting:
            self._worker.drain()
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
