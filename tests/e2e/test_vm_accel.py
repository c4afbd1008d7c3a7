"""The VM harness picks KVM only when it really runs guests fast (real QEMU, both ways)."""

from __future__ import annotations

import os

import pytest

from fastpath.testsut import vm


def test_bios_self_test_is_timed_under_tcg():
    took = vm._post_seconds("tcg")
    assert took is not None
    assert 0 < took < 10


def test_kvm_is_chosen_only_when_it_passes_the_self_test(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("FASTPATH_VM_ACCEL", raising=False)
    monkeypatch.setattr(vm, "_ACCEL", None)
    chosen = vm.accel()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert chosen == "tcg"
    elif chosen == "kvm":
        assert vm._post_seconds("kvm") is not None


def test_the_environment_overrides_the_detection(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FASTPATH_VM_ACCEL", "tcg")
    assert vm.accel() == "tcg"
    monkeypatch.setenv("FASTPATH_VM_ACCEL", "kvm")
    assert vm.accel() == "kvm"
