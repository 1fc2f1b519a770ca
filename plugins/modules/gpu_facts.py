#!/usr/bin/python
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""The host's NVIDIA GPUs, read through NVML, as facts."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Read the host's NVIDIA GPUs through NVML
version_added: "0.5.0"
description:
  - Reads the driver and CUDA driver versions and, per GPU, its index, UUID, model, Ray's
    accelerator type for it, memory, PCI bus id, MIG mode and MIG devices (UUID, profile,
    memory) and ECC mode, through NVML (C(libnvidia-ml.so.1), the driver's library).
  - Sets them as the fact C(rayfleet_gpus).
  - Fails, saying why and naming the host, when NVML cannot be used (no driver, a driver that
    is not loaded, no permission), unless O(required=false), which returns no GPUs instead.
  - Only reads.
requirements:
  - nvidia-ml-py (C(pynvml)) on the Python that runs the module; the ray role installs it in
    Ray's venv.
  - An NVIDIA driver on the host. rayfleet does not install drivers.
options:
  required:
    description: Fail when NVML cannot be used; with C(false) the host simply has no GPUs.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
author:
  - rayfleet contributors
"""

EXAMPLES = r"""
- name: Read the GPUs with the venv's nvidia-ml-py
  rayfleet.cluster.gpu_facts:
  vars:
    # Ray's venv on a node of the ray role.
    ansible_python_interpreter: "{{ ray_install_dir }}/{{ ray_version }}/bin/python"

- name: Count them
  ansible.builtin.debug:
    msg: "{{ ansible_facts['rayfleet_gpus']['gpus'] | length }} GPUs"
"""

RETURN = r"""
ansible_facts:
  description: The facts set.
  returned: always
  type: dict
  contains:
    rayfleet_gpus:
      description:
        - The host's GPUs.
        - Without NVML and with O(required=false), no GPUs and empty versions.
      returned: always
      type: dict
      contains:
        driver_version:
          description: The NVIDIA driver's version.
          type: str
          sample: "580.159.04"
        cuda_driver_version:
          description: The newest CUDA the driver runs.
          type: str
          sample: "13.0"
        nvml:
          description: Whether NVML answered; where not, C(reason) says why.
          type: bool
        reason:
          description: Why NVML could not be used; empty when it could.
          type: str
        gpus:
          description: One entry per GPU, in NVML's index order.
          type: list
          elements: dict
          contains:
            index:
              description: NVML's index of the GPU.
              type: int
            uuid:
              description: The GPU's UUID (C(GPU-...)), which C(CUDA_VISIBLE_DEVICES) takes.
              type: str
            model:
              description: The model as NVML names it.
              type: str
              sample: NVIDIA H100 80GB HBM3
            accelerator_type:
              description: Ray's accelerator type of the model, as the pinned Ray detects it.
              type: str
              sample: H100
            memory_bytes:
              description: The GPU's memory.
              type: int
            pci_bus_id:
              description: The PCI bus id.
              type: str
              sample: "00000000:18:00.0"
            mig_enabled:
              description: Whether MIG mode is on.
              type: bool
            mig_devices:
              description: The MIG devices made on the GPU.
              type: list
              elements: dict
              contains:
                index:
                  description: The MIG slot.
                  type: int
                uuid:
                  description: The MIG device's UUID (C(MIG-...)).
                  type: str
                profile:
                  description: The MIG profile, such as C(1g.10gb).
                  type: str
                memory_bytes:
                  description: The MIG device's memory.
                  type: int
            ecc_enabled:
              description: Whether ECC is on; null where the GPU has none.
              type: bool
            lost:
              description:
                - The GPU fell off the bus - NVML lists it but cannot read it; only C(index) and,
                  where NVML still gives it, C(uuid) are known.
              type: bool
"""

import platform
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.rayfleet.cluster.plugins.module_utils.gpu import (
    NvmlUnavailableError,
    read_host_gpus,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plain_data import plain

try:
    import pynvml
except ImportError:
    pynvml = None


def gpu_facts(nvml: Any, *, required: bool) -> tuple[dict[str, Any], str]:
    """The fact, and the reason NVML was unusable when that must fail the task."""
    try:
        host = read_host_gpus(nvml)
    except nvml.NVMLError as error:
        # NVML answered, then failed: a fault to look at, whether GPUs are required or not.
        reason = f"NVML failed reading the GPUs: {error}"
        return _no_gpus(reason), reason
    except NvmlUnavailableError as error:
        return _no_gpus(str(error)), str(error) if required else ""
    return {"nvml": True, "reason": "", **plain(host)}, ""


def _no_gpus(reason: str) -> dict[str, Any]:
    return {
        "nvml": False,
        "reason": reason,
        "driver_version": "",
        "cuda_driver_version": "",
        "gpus": [],
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={"required": {"type": "bool", "default": True}},
        supports_check_mode=True,
    )
    if pynvml is None:
        # Ray's venv from before rayfleet installed nvidia-ml-py: no GPUs can be read yet.
        if module.params["required"]:
            module.fail_json(msg=missing_required_lib("nvidia-ml-py (pynvml)"))
        facts = _no_gpus("nvidia-ml-py is not installed for this Python")
        module.exit_json(changed=False, ansible_facts={"rayfleet_gpus": facts})
    facts, failure = gpu_facts(pynvml, required=module.params["required"])
    if failure:
        module.fail_json(
            msg=f"{platform.node()}: cannot read the GPUs: {failure}. Fix: install and load the "
            "NVIDIA driver (nvidia-smi must list the GPUs), or take the host out of its GPU group.",
            ansible_facts={"rayfleet_gpus": facts},
        )
    module.exit_json(changed=False, ansible_facts={"rayfleet_gpus": facts})


if __name__ == "__main__":
    main()
