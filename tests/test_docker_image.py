"""The Docker image runs the service with sign-in: /health answers and a signed-in page is served.

Where a container engine runs, the image is built and run. Where none can (these machines have
the docker client but no engine), the image's exact entry point -- its ``ENTRYPOINT`` and
``CMD``, its ``ENV``, its ``WORKDIR`` and what it ``COPY``s, read from the Dockerfile itself -- runs
in a fresh virtual environment installed the way its ``RUN`` line installs it, with ``/app`` and
``/data`` as folders here. Either way the same checks follow, through the published port.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import SmtpSink, free_port

DOCKERFILE = ROOT / "Dockerfile"
ADMIN = "admin@council.example"


@dataclass
class Image:
    """What the Dockerfile says, as data."""

    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    copies: list[tuple[list[str], str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    expose: int = 0


def read_dockerfile(path: Path = DOCKERFILE) -> Image:
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    image = Image()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "WORKDIR":
            image.workdir = rest.strip()
        elif word == "ENV":
            image.env.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
        elif word == "COPY":
            *sources, target = shlex.split(rest)
            image.copies.append((sources, target))
        elif word == "RUN":
            image.runs.append(rest)
        elif word == "ENTRYPOINT":
            image.entrypoint = json.loads(rest)
        elif word == "CMD":
            image.cmd = json.loads(rest)
        elif word == "EXPOSE":
            image.expose = int(rest.split()[0])
    return image


def test_the_dockerfile_is_read_as_written() -> None:
    image = read_dockerfile()
    assert image.entrypoint == ["chaser"] and image.cmd == ["run"]
    assert image.env["CHASER_WEB_LISTEN"] == f"0.0.0.0:{image.expose}"
    assert image.env["CHASER_DATA_DIR"] == "/data"
    assert any("pip install" in run for run in image.runs)


def _engine_runs() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    return subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0


@dataclass
class Running:
    url: str
    chaser: list[str]  # how to run another verb the way the image would
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None


@pytest.fixture
def service(tmp_path: Path, sink: SmtpSink) -> Iterator[Running]:
    image = read_dockerfile()
    port = free_port()
    runtime_env = {  # what `docker run -e …` would give it
        "CHASER_SECRET_KEY": "d" * 48,
        "CHASER_SMTP_HOST": sink.host,
        "CHASER_SMTP_PORT": str(sink.port),
        "CHASER_SMTP_STARTTLS": "no",
    }
    if _engine_runs():  # pragma: no cover - no container engine on these machines
        yield from _in_docker(image, port, runtime_env, tmp_path)
    else:
        yield from _in_a_fresh_venv(image, port, runtime_env, tmp_path)


def _in_a_fresh_venv(
    image: Image, port: int, runtime_env: dict[str, str], tmp_path: Path
) -> Iterator[Running]:
    root = tmp_path / "image"
    app, data = root / "app", root / "data"
    data.mkdir(parents=True)
    for sources, target in image.copies:
        where = app / target.removeprefix(image.workdir).strip("./")
        for source in sources:
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, where / source if target.endswith("/") else where)
            else:
                where.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, where / Path(source).name)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    for run in image.runs:
        install = run.split("&&")[0].strip()
        assert install.startswith("pip install"), run
        args = shlex.split(install)[2:]
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-qq", *args],
            cwd=app,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(data),
        **{k: _here(v, app=app, data=data, image=image) for k, v in image.env.items()},
        **runtime_env,
    }
    env["CHASER_WEB_LISTEN"] = f"0.0.0.0:{port}"  # the port `docker run -p` would publish
    chaser = [str(venv / "bin" / image.entrypoint[0]), *image.entrypoint[1:]]
    running = Running(f"http://127.0.0.1:{port}", chaser, env)
    _prepare(running, cwd=app)
    process = subprocess.Popen(
        [*chaser, *image.cmd], cwd=app, env=env, stderr=subprocess.PIPE, text=True
    )
    running.process = process
    try:
        _wait_for_health(running)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        _, logs = process.communicate(timeout=60)
        assert process.returncode == 0, logs[-3000:]


def _in_docker(  # pragma: no cover - no container engine on these machines
    image: Image, port: int, runtime_env: dict[str, str], tmp_path: Path
) -> Iterator[Running]:
    tag = "chaser-test:latest"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=1800)
    samples = tmp_path / "samples"
    samples.mkdir()
    shutil.copy2(PEOPLE_CSV, samples / PEOPLE_CSV.name)
    shutil.copy2(PLAN_XLSX, samples / PLAN_XLSX.name)
    env = {k: v.replace("127.0.0.1", "host.docker.internal") for k, v in runtime_env.items()}
    flags = [f"-e{k}={v}" for k, v in env.items()]
    volume = ["-v", f"{tmp_path / 'data'}:/data", "-v", f"{samples}:/samples:ro"]
    host = ["--add-host", "host.docker.internal:host-gateway"]
    chaser = ["docker", "run", "--rm", *host, *volume, *flags, tag]
    running = Running(f"http://127.0.0.1:{port}", chaser, {})
    _prepare(running, cwd=ROOT, samples=Path("/samples"))
    name = f"chaser-test-{port}"
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "-p",
            f"{port}:{image.expose}",
            *host,
            *volume,
            *flags,
            tag,
        ],
        check=True,
    )
    try:
        _wait_for_health(running)
        yield running
    finally:
        subprocess.run(["docker", "stop", name], check=False, timeout=120)
        subprocess.run(["docker", "rm", name], check=False, timeout=60)


def _here(value: str, *, app: Path, data: Path, image: Image) -> str:
    """An image path (``/app/config``, ``/data``) as the folder standing in for it."""
    if value == "/data" or value.startswith("/data/"):
        return str(data) + value.removeprefix("/data")
    if value.startswith(image.workdir):
        return str(app) + value.removeprefix(image.workdir)
    return value


def _prepare(running: Running, *, cwd: Path, samples: Path | None = None) -> None:
    """What an admin does first, with the image's own entry point: the plan, and an admin."""
    people = samples / PEOPLE_CSV.name if samples else PEOPLE_CSV
    plan = samples / PLAN_XLSX.name if samples else PLAN_XLSX
    for args in (
        ["people", "import", str(people)],
        ["plan", "import", str(plan)],
        ["users", "add", ADMIN, "--role", "admin"],
    ):
        done = _verb(running, cwd, *args)
        assert done.returncode == 0, done.stderr[-2000:]


def _verb(running: Running, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = running.env or dict(os.environ)
    return subprocess.run(
        [*running.chaser, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _wait_for_health(running: Running) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if running.process is not None and running.process.poll() is not None:
            raise AssertionError(f"the service stopped: {running.process.stderr.read()[-3000:]}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(running.url + "/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    raise AssertionError("/health never answered")


def test_the_image_serves_health_and_a_signed_in_page(service: Running, tmp_path: Path) -> None:
    with urllib.request.urlopen(service.url + "/health", timeout=10) as answer:
        health = json.loads(answer.read())
    # healthy, with the outbox's counts (counts only, no names)
    assert health["status"] == "ok" and set(health["outbox"]) == {
        "dead",
        "pending",
        "oldest_pending_seconds",
    }
    printed = _verb(service, tmp_path, "users", "signin-link", ADMIN)
    assert printed.returncode == 0, printed.stderr
    path = urllib.parse.urlsplit(printed.stdout.strip()).path
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with browser.open(service.url + path, timeout=10) as answer:
        form = answer.read().decode()
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', form)
    assert csrf is not None and f"You are signing in as <strong>{ADMIN}</strong>" in form
    body = urllib.parse.urlencode({"csrf_token": csrf.group(1)}).encode()
    headers = {"Origin": "http://127.0.0.1:8080"}  # form_url in the shipped chasing.yaml
    with browser.open(urllib.request.Request(service.url + path, body, headers), timeout=30) as ok:
        page = ok.read().decode()
        assert ok.url == service.url + "/plan"
    assert "Plan status" in page and "Signed in as admin@council.example" in page
