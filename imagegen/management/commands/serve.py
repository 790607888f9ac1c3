"""Serve the site and run a django-q2 worker cluster beside it; one Ctrl-C stops both."""

import signal
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand
from django.core.servers.basehttp import get_internal_wsgi_application
from waitress import serve


class Command(BaseCommand):
    help = "Serve TravelFit on HOST:PORT (waitress) with a qcluster worker beside it."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--threads", type=int, default=8)
        parser.add_argument("--no-worker", action="store_true", help="Serve pages only.")

    def handle(self, *args, host, port, threads, no_worker, **options):
        # WSGI_APPLICATION's application, as runserver loads it: the project's, request ids and
        # all, without this app naming the project package.
        application = get_internal_wsgi_application()

        worker = None
        if not no_worker:
            worker = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"], cwd=settings.BASE_DIR
            )
        # SIGTERM (from a process manager) stops us the way Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        self.stdout.write(f"TravelFit on http://{host}:{port}/ (Ctrl-C stops it)")
        try:
            serve(application, host=host, port=port, threads=threads, ident="TravelFit")
        except KeyboardInterrupt:
            pass
        finally:
            if worker is not None:
                self._stop(worker)
        self.stdout.write("Stopped.")

    def _stop(self, worker):
        if worker.poll() is None:
            # Ctrl-C in a terminal already reached the worker; a SIGTERM to us did not.
            worker.send_signal(signal.SIGINT)
        # Running generations finish first (at most the task timeout); unstarted ones go back.
        try:
            worker.wait(timeout=settings.IMAGEGEN_TASK_TIMEOUT + 30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
