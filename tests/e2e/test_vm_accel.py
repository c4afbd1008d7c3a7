"""The VM harness picks KVM only when it really runs guests fast (real QEMU, both ways)."""

from __future__ import annotations

import os
from pathlib import Path

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
    assert chosen in ("kvm", "tcg")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert chosen == "tcg"
    elif chosen == "kvm":
        assert vm._post_seconds("kvm") is not None
    assert vm.qemu_command(Path("o.qcow2"), 2222, Path("s.log"), memory_mb=512, smp=1,
                           accel_name=chosen)[3:6] == ["-accel", chosen, "-cpu"]


@pytest.mark.parametrize(("kvm", "tcg", "fast"), [
    (1.32, 0.06, False),   # the nested /dev/kvm measured here: 20x slower than TCG
    (0.05, 0.06, True),    # working KVM
    (0.12, 0.06, True),    # within the noise slack
    (0.30, None, True),    # TCG could not be measured: trust a KVM that finished
])
def test_the_speed_rule(kvm: float, tcg: float | None, fast: bool):
    assert vm.kvm_fast_enough(kvm, tcg) is fast


def test_the_environment_overrides_the_detection(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FASTPATH_VM_ACCEL", "tcg")
    assert vm.accel() == "tcg"
    monkeypatch.setenv("FASTPATH_VM_ACCEL", "kvm")
    assert vm.accel() == "kvm"
