"""Fixtures of the QEMU VM SUT: ONE VM, built (cached) and booted once per test session.

``vm_sut`` is a :class:`fastpath.testsut.vm.VmSut` (``connection()``,
``powercycle_command()``, ``ssh()``); ``test_kernels`` the two real Debian kernels of one
version (:func:`fastpath.testsut.vm_image.fetch_test_kernels`).  The VM image carries the
benchmark images the e2e plans run (built on the controller first, then preloaded).
Every e2e test must leave the VM on its original kernel (``kernel.restore``) for the next.
"""

from __future__ import annotations

import subprocess

import pytest

from fastpath import paths

# Benchmark images preloaded into the VM's Docker (the suites the e2e plans use).
E2E_SUITES = ("sysbench",)


@pytest.fixture(scope="session")
def test_kernels():
    from fastpath.testsut.vm_image import fetch_test_kernels

    return fetch_test_kernels()


@pytest.fixture(scope="session")
def vm_image():
    from fastpath.testsut.demo import DEMO_IMAGES
    from fastpath.testsut.vm_image import build_image

    subprocess.run([str(paths.data_root() / "scripts" / "build-images.sh"), *E2E_SUITES],
                   check=True, capture_output=True)
    return build_image(preload=list(DEMO_IMAGES))


@pytest.fixture(scope="session")
def vm_sut(vm_image, tmp_path_factory):
    from fastpath.testsut.vm import start

    vm = start(vm_image, tmp_path_factory.mktemp("vm-sut"))
    try:
        yield vm
    finally:
        vm.stop()
