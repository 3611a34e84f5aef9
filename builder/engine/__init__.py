"""Every Docker call of the builder: image builds (build.py), the pinned stack's resolution (resolve.py),
named volumes (volumes.py), and the demo's local engine, base image and wheelhouse (local.py)."""
