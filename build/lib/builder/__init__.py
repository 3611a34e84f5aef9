"""ModelForge: one spec renders ms-swift training and vLLM serving for a workstation or Kubernetes."""

__version__ = "0.1.0"
