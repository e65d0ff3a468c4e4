"""Thousands of breakpoints: GDB removes them all at each stop and inserts them all again at each resume, so
the stub hooks only the difference when the core resumes (work counted, not timed)."""

from m0sim.gdbstub import Debugger


class CountingEngine:
    """The part of a Unicorn engine the breakpoints use, counting each call."""

    def __init__(self):
        self.calls = {"hook_add": 0, "hook_del": 0, "ctl_remove_cache": 0}
        self.hooks = {}  # handle -> hooked address

    def hook_add(self, _kind, _cb, begin, end):
        assert begin == end
        self.calls["hook_add"] += 1
        handle = self.calls["hook_add"]
        self.hooks[handle] = begin
        return handle

    def hook_del(self, handle):
        self.calls["hook_del"] += 1
        del self.hooks[handle]

    def ctl_remove_cache(self, _begin, _end):
        self.calls["ctl_remove_cache"] += 1


class Core:
    def __init__(self):
        self.uc = CountingEngine()


N = 5000
ADDRS = [0x1000_0100 + 2 * i for i in range(N)]


def _stub():
    stub = Debugger(lobby=None, err=lambda _text: None)
    stub.m = Core()
    return stub


def test_packets_only_record_and_resume_hooks_the_difference():
    stub = _stub()
    for a in ADDRS:
        assert stub._point(True, 0, a) == "OK"
    assert stub.m.uc.calls["hook_add"] == 0  # nothing per packet
    stub._sync_breaks()
    assert stub.m.uc.calls == {"hook_add": N, "hook_del": 0, "ctl_remove_cache": N}
    assert sorted(stub.m.uc.hooks.values()) == ADDRS


def test_remove_all_and_insert_all_again_costs_nothing():
    stub = _stub()
    for a in ADDRS:
        stub._point(True, 0, a)
    stub._sync_breaks()
    before = dict(stub.m.uc.calls)
    for _ in range(3):  # three stop/resume cycles as GDB makes them
        for a in ADDRS:
            stub._point(False, 0, a)
        for a in ADDRS:
            stub._point(True, 0, a)
        stub._sync_breaks()
    assert stub.m.uc.calls == before


def test_a_removed_breakpoint_is_unhooked_at_the_resume():
    stub = _stub()
    for a in ADDRS[:3]:
        stub._point(True, 0, a | 1)  # a Thumb address names the same halfword
    stub._sync_breaks()
    stub._point(False, 0, ADDRS[1])
    stub._sync_breaks()
    assert sorted(stub.m.uc.hooks.values()) == [ADDRS[0], ADDRS[2]] and set(stub.breaks) == {ADDRS[0], ADDRS[2]}
    assert stub.m.uc.calls["hook_del"] == 1


def test_an_address_beyond_32_bits_is_refused_at_once():
    stub = _stub()
    for bad in (-2, 1 << 32, int("1" * 40, 16)):
        assert stub._point(True, 0, bad) == "E01"
    stub._sync_breaks()
    assert stub.m.uc.calls["hook_add"] == 0
