"""The package installs offline into a fresh venv of Debian 12's python3, with the command
clients/python/README.md documents, and imports from there.

PyPI is not reachable (here, and in CI): pip's build isolation must find the build backend
(setuptools, wheel) in Debian's /usr/share/python-wheels (python3-setuptools-whl,
python3-wheel-whl). The user's pip configuration is ignored so that it cannot supply an index.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

PACKAGE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PYTHON = "/usr/bin/python3"
WHEELS = "/usr/share/python-wheels"


def venv_available():
    r = subprocess.run([PYTHON, "-c", "import ensurepip, venv"], capture_output=True)
    return r.returncode == 0


class InstallTest(unittest.TestCase):
    def setUp(self):
        if not venv_available():
            self.skipTest("python3-venv is not installed (scripts/setup.sh installs it): the venv install "
                          "was not checked")
        for wheel in ("setuptools", "wheel"):
            if not any(f.startswith(wheel + "-") for f in os.listdir(WHEELS)):
                self.fail(f"no {wheel} wheel in {WHEELS}: install python3-{wheel}-whl (scripts/setup.sh)")
        self.dir = tempfile.mkdtemp(prefix="impulse-pyclient-venv-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_pip_install_offline_into_a_venv(self):
        venv = os.path.join(self.dir, "v")
        subprocess.run([PYTHON, "-m", "venv", venv], check=True)
        # pip builds in the source tree (build/, *.egg-info): build a copy.
        src = os.path.join(self.dir, "python")
        shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        # The command of clients/python/README.md.
        cmd = [os.path.join(venv, "bin", "pip"), "install", "--no-index", "--find-links", WHEELS, src]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        probe = ("import impulse_client as ic, os; print(os.path.dirname(ic.__file__)); "
                 "print(ic.__version__); print(ic.parse_metrics('a{x=\"1\"} 2\\n').get('a', x='1'))")
        r = subprocess.run([os.path.join(venv, "bin", "python"), "-c", probe], capture_output=True, text=True,
                           cwd=self.dir, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        where, version, value = r.stdout.split()
        self.assertTrue(where.startswith(os.path.join(venv, "lib")), where)  # the installed copy
        self.assertEqual(version, "0.1.0")
        self.assertEqual(value, "2.0")
        r = subprocess.run([os.path.join(venv, "bin", "pip"), "show", "impulse-client"], capture_output=True,
                           text=True, env=env)
        self.assertIn("Name: impulse-client", r.stdout)


if __name__ == "__main__":
    sys.exit(unittest.main())
