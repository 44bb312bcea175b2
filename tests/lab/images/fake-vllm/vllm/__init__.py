"""Fake `vllm` package for remediate's test lab (not the real vLLM)."""

__version__ = "0.6.3"
