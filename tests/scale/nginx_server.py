"""A real nginx in front of test daphne processes, run from the repository's own site file.

`deploy/nginx/examtimer.conf` is what production installs; `render_site` makes the test's copy
of it by changing only what must differ here (ports, the certificate, log paths), and fails if
any of those lines is not found exactly as expected, so the file tested is the file shipped.
nginx runs unprivileged paths only: `-p <tmp> -c <tmp>/nginx.conf`, pid, logs and temp files in
the test's folder, in the foreground (`daemon off`), stopped by the test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "examtimer.conf"
NGINX = Path("/usr/sbin/nginx")
STARTUP_SECONDS = 10.0
STOP_SECONDS = 10.0


def missing_tools() -> str | None:
    """Why nginx cannot run here (scripts/ensure_nginx.sh installs both as root), or None."""
    if not NGINX.exists():
        return f"{NGINX} is missing (scripts/ensure_nginx.sh installs Debian's nginx)"
    if shutil.which("openssl") is None:
        return "openssl is missing (scripts/ensure_nginx.sh installs it)"
    return None


def _replace(text: str, pattern: str, replacement: str, count: int) -> str:
    """`text` with `pattern` (a regular expression) replaced; it must occur exactly `count` times."""
    found = len(re.findall(pattern, text, flags=re.MULTILINE))
    if found != count:
        raise AssertionError(f"{SITE.name}: expected {count} match(es) of {pattern!r}, found {found}")
    return re.sub(pattern, replacement, text, flags=re.MULTILINE)


def render_site(*, https_port: int, http_port: int, upstream_ports: list[int], tls_dir: Path, log_dir: Path) -> str:
    """The shipped site with this test's ports, certificate and logs; every other line as shipped."""
    text = SITE.read_text()
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in upstream_ports)
    text = _replace(text, r"^    server 127\.0\.0\.1:8001;\n    server 127\.0\.0\.1:8002;\n", servers, 1)
    text = _replace(text, r"^    listen \[::\]:(80|443 ssl);\n", "", 2)  # loopback only: no IPv6 wildcard
    text = _replace(text, r"^    listen 80;", f"    listen 127.0.0.1:{http_port};", 1)
    text = _replace(text, r"^    listen 443 ssl;", f"    listen 127.0.0.1:{https_port} ssl;", 1)
    text = _replace(text, r"ssl_certificate /etc/letsencrypt/\S+;", f"ssl_certificate {tls_dir / 'cert.pem'};", 1)
    text = _replace(
        text, r"ssl_certificate_key /etc/letsencrypt/\S+;", f"ssl_certificate_key {tls_dir / 'key.pem'};", 1
    )
    text = _replace(text, r"/var/log/nginx/", f"{log_dir}/", 2)
    return text


def make_certificate(tls_dir: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (cert.pem, key.pem in `tls_dir`); returns cert.pem."""
    tls_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(tls_dir / "key.pem"), "-out", str(tls_dir / "cert.pem"), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return tls_dir / "cert.pem"


def main_config(prefix: Path, site: Path) -> str:
    """nginx.conf of the test: everything nginx writes stays under `prefix`; the site is included as is."""
    # As root (CI) the workers would switch to `nobody`, who cannot enter pytest's private tmp folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {prefix / 'temp' / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'logs' / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n{temp}\n    access_log {prefix / 'logs' / 'access.log'};\n    include {site};\n}}\n"
    )


@dataclass
class Nginx:
    """One running nginx (master and its worker) with its folder, ports and certificate."""

    process: subprocess.Popen
    prefix: Path
    https_port: int
    http_port: int
    cert: Path
    _stderr: object = None

    @property
    def access_log(self) -> Path:
        return self.prefix / "logs" / "examtimer.access.log"

    def log(self) -> str:
        """The site's access log and nginx's error logs."""
        paths = [self.access_log, self.prefix / "logs" / "examtimer.error.log", self.prefix / "logs" / "error.log"]
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in paths if p.exists())

    def stop(self) -> None:
        """SIGTERM (nginx's fast shutdown), then SIGKILL after STOP_SECONDS."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_nginx(prefix: Path, *, https_port: int, http_port: int, upstream_ports: list[int]) -> Nginx:
    """Render the site, check the configuration (`nginx -t`), start nginx; returns once both ports accept."""
    for folder in ("logs", "temp", "conf", "tls"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    cert = make_certificate(prefix / "tls")
    site = prefix / "conf" / "examtimer.conf"
    site.write_text(
        render_site(
            https_port=https_port,
            http_port=http_port,
            upstream_ports=upstream_ports,
            tls_dir=prefix / "tls",
            log_dir=prefix / "logs",
        )
    )
    conf = prefix / "conf" / "nginx.conf"
    conf.write_text(main_config(prefix, site))
    argv = [str(NGINX), "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"]
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30, check=False)
    if checked.returncode != 0:
        raise AssertionError(f"nginx -t refused the configuration:\n{checked.stderr}")
    stderr = (prefix / "logs" / "stderr.log").open("w")
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)
    server = Nginx(process=process, prefix=prefix, https_port=https_port, http_port=http_port, cert=cert)
    server._stderr = stderr
    deadline = time.monotonic() + STARTUP_SECONDS
    while not (_accepts(https_port) and _accepts(http_port)):
        if process.poll() is not None:
            raise AssertionError(f"nginx exited with {process.returncode}\n{server.log()}")
        if time.monotonic() >= deadline:
            server.stop()
            raise AssertionError(f"nginx: ports not accepting after {STARTUP_SECONDS} s\n{server.log()}")
        time.sleep(0.05)
    return server
