"""gunicorn's threaded worker, answering what it had taken in when it stops gracefully.

On a graceful stop the worker's loop ends at once: connections the kernel had queued on the listening socket
(clients that connected just before) were reset when the socket closed, and connections it had accepted but whose
request had not been read yet were dropped with the poller. This worker, as its loop ends, accepts every waiting
connection and hands every new one to its threads, which answer them within the graceful timeout; only a client
that connects in the moment between that and the socket's closing can still be turned away. Idle kept-alive
connections are closed, as before.
"""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker


class DrainingThreadWorker(ThreadWorker):
    def murder_keepalived(self) -> None:
        super().murder_keepalived()
        if not self.alive:  # a graceful stop: the loop ends after this call
            self._drain()

    def _drain(self) -> None:
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
