"""Starts a real `impulse run` for the client's tests: a temp data dir, a free port, a token."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def impulse_binary():
    path = os.environ.get("IMPULSE_BINARY", "")
    if not path:
        raise RuntimeError("set IMPULSE_BINARY to the impulse binary (ctest passes the build's)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"IMPULSE_BINARY={path} is not an executable")
    return path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """`impulse run SPEC` on 127.0.0.1 and a free port, stopped (SIGTERM) by stop()."""

    def __init__(self, spec, *args, token=None):
        self.token = token
        self.dir = tempfile.mkdtemp(prefix="impulse-pyclient-")
        self.log_path = os.path.join(self.dir, "engine.log")
        # The port is free when chosen; another process may take it before the engine binds it,
        # so a start that fails on the bind is tried again on another port.
        for _ in range(3):
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            cmd = [impulse_binary(), "run", spec, "--data-dir", os.path.join(self.dir, "data"), "--listen",
                   f"127.0.0.1:{self.port}", *args]
            if token:
                cmd += ["--token", token]
            self.log = open(self.log_path, "w")
            self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
            if self._wait_up(60):
                return
            self.proc.kill()
            self.proc.wait()
            self.log.close()
            if "in use" not in self.output():
                break
        out = self.output()
        self.cleanup()
        raise RuntimeError(f"impulse run did not start: {out}")

    def _wait_up(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        return False

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        """SIGTERM, and the exit status (0 for a clean stop)."""
        self.proc.terminate()
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
