"""The registry: every check the doctor runs, in the order it prints them. A check is a function of the
probe's Context (probe.py) that returns its Check lines; each module here holds one concern, with its
check_* functions taking plain arguments (what tests and readers see) and the small entry functions
listed below. To add a check, add a module and one line to CHECKS.
"""

from __future__ import annotations

from collections.abc import Callable

from ..probe import Context
from ..report import Check
from . import compose, disk, docker, driver, gpus, memory, plan, runtime

CheckFn = Callable[[Context], list[Check]]

CHECKS: list[CheckFn] = [
    plan.feasible,  # plan
    gpus.count,  # gpu count
    gpus.model,  # gpu model
    driver.train_image,  # driver vs train
    driver.serve_image,  # driver vs serve
    docker.engine,  # docker engine
    runtime.nvidia,  # nvidia runtime
    compose.v2,  # compose
    disk.volumes,  # disk images, disk model_cache, disk checkpoints, volume sizes
    memory.ram,  # host RAM
    memory.shm,  # /dev/shm
]
