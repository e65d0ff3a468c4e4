"""`m0sim run paper-table` as a careless or hostile user drives it: every grid option bounded before any work,
a --scheduler that is not a Dask scheduler refused within a bounded time, damaged study folders, Ctrl-C, and a
seeded fuzz of options and folders. Each bad input: one line, exit 2, no traceback."""

import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from m0sim.cli import main as m0sim_main
from priot import data
from priot.experiments.study import cli as study_cli
from priot.experiments.study import engine, grid, scheduler_probe
from priot.experiments.study.cli import experiment

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_cluster(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a cluster was started for bad input")
    monkeypatch.setattr(engine, "connect", refuse)


def one_line_exit_2(res, *fragments):
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.mark.parametrize("args, says", [
    (["--seeds", "2147483648", "--report-only"], "seeds must be at most 100"),
    (["--model", "tiny_cnn", "--widths", "nan"], "width factor must be in (0, 64], got nan"),
    (["--model", "tiny_cnn", "--widths", "inf"], "got inf"),
    (["--model", "tiny_cnn", "--widths", "1e9"], "got 1e+09"),
    (["--angles", "+inf"], "an angle must be a number of degrees in -360..360"),
    (["--angles", "-inf"], "got -inf"),
    (["--angles", "nan"], "got nan"),
    (["--samples", "100000000"], "100000000 training"),
    (["--test", "4990"], "and the dataset has 5000"),
    (["--model", "tiny_cnn", "--widths", ",".join(str(w) for w in range(1, 41)), "--angles", ",".join(str(a) for a in range(30))],
     "40 widths x 30 angles is more than 1,000 settings"),
    (["--full", "--model", "tiny_cnn", "--seeds", "100", "--widths", "1,2,4,8"], "more than 200,000"),
])
def test_grid_options_are_bounded_before_any_work(args, says, tmp_path, no_cluster):
    one_line_exit_2(CliRunner().invoke(experiment, args + ["--out", str(tmp_path / "r")]), says)


def test_huge_seed_count_does_not_allocate(tmp_path):
    """--seeds 2147483648 --report-only reached 24 GB before; under a 1.5 GB address-space cap it is one line."""
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20)); "
            "sys.argv = ['m0sim', 'run', 'paper-table', '--seeds', '2147483648', '--report-only', '--out', "
            f"{str(tmp_path / 'r')!r}]; from m0sim.__main__ import entry; entry()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "at most 100" in proc.stderr, proc.stderr


# ---- --scheduler that is not a scheduler: local sockets on 127.0.0.1, each loop bounded ------------------------

class Peer:
    """A TCP server on 127.0.0.1 that answers each connection with ``behave(conn)`` until closed."""

    def __init__(self, behave):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.behave, self.done = behave, threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conns = []
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conns.append(conn)
            try:
                self.behave(conn)
            except OSError:
                pass
        for c in conns:
            c.close()

    def close(self):
        self.done.set()
        self.thread.join(timeout=5)
        self.sock.close()


def silent(conn):
    pass  # accepts and never speaks (a firewall's tarpit, a stuck service)


def http_dashboard(conn):
    conn.settimeout(2)
    try:
        if conn.recv(1024):  # an HTTP server speaks only when spoken to
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    except OSError:
        pass


def http_banner(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")  # 'HTTP/1.1' read as a frame length


def small_garbage(conn):
    conn.sendall((40).to_bytes(8, "little") + b"x" * 40)  # a plausible length, then no Dask handshake


@pytest.mark.parametrize("behave, says", [(silent, "does not answer within 1 s"),
                                          (http_dashboard, "does not answer within 1 s"),
                                          (http_banner, "is not a Dask scheduler"),
                                          (small_garbage, "is no Dask handshake")])
def test_scheduler_that_is_not_one_is_one_line(behave, says, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT_S", 1)
    peer = Peer(behave)
    try:
        start = time.monotonic()
        res = CliRunner().invoke(experiment, ["--quick", "--scheduler", f"127.0.0.1:{peer.port}", "--out",
                                              str(tmp_path / "r")])
        assert time.monotonic() - start < 60  # bounded (a silent peer held Client() for 900 s before)
    finally:
        peer.close()
    one_line_exit_2(res, f"Dask scheduler 127.0.0.1:{peer.port}", says)


@pytest.mark.parametrize("address, says", [("tls://127.0.0.1:8786", "tls:// is not supported"),
                                           ("ucx://127.0.0.1:8786", "ucx:// is not supported"),
                                           ("127.0.0.1", "expected host:port"), ("127.0.0.1:99999", "port 1..65535"),
                                           ("http://127.0.0.1:8787/status", "http:// is not supported")])
def test_scheduler_addresses_dask_cannot_use_are_one_line(address, says, tmp_path):
    one_line_exit_2(CliRunner().invoke(experiment, ["--quick", "--scheduler", address, "--out", str(tmp_path / "r")]),
                    says)


def test_a_real_scheduler_passes_the_probe():
    from distributed import LocalCluster
    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", dashboard_address=":0") as cluster:
        address = cluster.scheduler_address
        assert scheduler_probe.check(address.removeprefix("tcp://"), 5) == address


# ---- study folders ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage, says", [
    (lambda r: (r / "cells" / "abc.json").mkdir(parents=True), "is a directory where a cell's result file belongs"),
    (lambda r: (r / "results.json").mkdir(parents=True), "is a directory where the study's results.json belongs"),
    (lambda r: (r / "table.md").mkdir(parents=True), "is a directory where the study's table.md belongs"),
    (lambda r: ((r / "cells").mkdir(parents=True), (r / "cells" / "abc.json").write_text("[1,2,3]")),
     "holds a JSON list, not a cell record"),
])
@pytest.mark.parametrize("report_only", [True, False])
def test_damaged_study_folder_is_one_line(damage, says, report_only, tmp_path, no_cluster):
    damage(tmp_path / "r")
    args = ["--quick", "--out", str(tmp_path / "r")] + (["--report-only"] if report_only else [])
    one_line_exit_2(CliRunner().invoke(experiment, args), says)


# ---- Ctrl-C ------------------------------------------------------------------------------------------------

def test_ctrl_c_of_paper_table_is_one_line(tmp_path, tiny_args, study_cache):
    """A terminal's Ctrl-C reaches the whole process group, Dask workers included: one line, 130; the workers'
    tracebacks go to the report folder's log."""
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "m0sim", "run", "paper-table", *tiny_args, "--workers", "1",
                             "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, start_new_session=True)
    deadline = time.monotonic() + 120
    while not any((out / "cells").glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)  # until the first cell is in: workers running
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    # the fit check may first build (and cache) a firmware to measure, and says so: that line is not Ctrl-C's
    lines = [x for x in err.strip().splitlines() if not x.startswith("m0sim: built firmware ")]
    assert lines == [f"m0sim run paper-table: interrupted; finished cells are kept in {out / 'cells'}, rerun to resume"], err


# ---- seeded fuzz of options and study folders (report-only: nothing runs) ------------------------------------

NUMBERS = ["0", "1", "-1", "3", "10", "45", "nan", "inf", "-inf", "+inf", "1e9", "1e300", "2147483648", "",
           "x2", "random", "north", "1,,2", "0.5", "-0", "9" * 40, "1e-300", "360", "361", "-360"]
VALID = {"--seeds": ["1", "2", "100"], "--widths": ["1", "2", "0.5", "64"], "--angles": ["45", "random", "-90"],
         "--samples": ["200", "1000"], "--test": ["300"], "--epochs": ["1", "100"], "--pretrain": ["300", "3000"],
         "--methods": ["priot-s", "none,sgd-last"], "--families": ["priot"], "--workers": ["1", "256"]}
OPTIONS = ["--seeds", "--widths", "--angles", "--samples", "--test", "--epochs", "--pretrain", "--methods",
           "--families", "--workers"]


@pytest.fixture
def quick_dataset(monkeypatch):
    ds = data.load_dataset("mnist5k")
    monkeypatch.setattr(study_cli.data, "load_dataset", lambda *a, **k: ds)


def _fuzz_folder(rng, root):
    cells = root / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    for i in range(rng.randint(0, 3)):
        p = cells / f"{rng.choice(['a', 'b', 'c', '0' * 20])}{i}.json"
        kind = rng.randrange(6)
        if kind == 0:
            p.mkdir(exist_ok=True)
        elif kind == 1:
            p.write_text(json.dumps(rng.choice([[1, 2, 3], 7, "s", None, {}, {"status": "ok"}])))
        elif kind == 2:
            p.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))))
        else:
            p.write_text('{"status": "ok", "key": "' + p.stem + '"')  # truncated
    for name in ("results.json", "table.md"):
        if rng.random() < 0.1:
            (root / name).mkdir(exist_ok=True)


def _fuzz(tmp_path, cases, seed):
    rng = random.Random(seed)
    runner = CliRunner()
    codes = {}
    for i in range(cases):
        args = ["--report-only", "--no-figures", "--model", "tiny_cnn", "--out", str(tmp_path / f"r{i}")]
        for opt in rng.sample(OPTIONS, rng.randint(1, 3)):
            pool = VALID[opt] if rng.random() < 0.6 else NUMBERS
            args += [opt, ",".join(rng.choice(pool) for _ in range(1 if pool is VALID[opt] else rng.randint(1, 3)))]
        if rng.random() < 0.5:
            _fuzz_folder(rng, tmp_path / f"r{i}")
        res = runner.invoke(m0sim_main, ["run", "paper-table", *args])  # as typed: usage errors one line too
        assert res.exception is None or isinstance(res.exception, SystemExit), (args, res.exception)
        assert res.exit_code in (0, 2), (args, res.output)
        if res.exit_code == 2:
            assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output, (args, res.output)
        codes[res.exit_code] = codes.get(res.exit_code, 0) + 1
    return codes


def test_fuzzed_options_and_folders(tmp_path, no_cluster, quick_dataset):
    codes = _fuzz(tmp_path, 300, seed=6)
    assert codes.get(2, 0) > 100 and codes.get(0, 0) > 20, codes


@pytest.mark.slow
def test_fuzzed_options_and_folders_many(tmp_path, no_cluster, quick_dataset):
    codes = _fuzz(tmp_path, 3000, seed=66)
    assert codes.get(2, 0) > 1000, codes
