"""`vllm` console script of the fake package: `vllm serve MODEL [flags]`, `vllm --version`."""

from __future__ import annotations

import sys

from vllm import __version__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--version"], ["-v"]):
        print(__version__)
        return 0
    if not argv or argv[0] != "serve":
        print("usage: vllm serve <model_tag> [options]", file=sys.stderr)
        return 2
    rest = argv[1:]
    if rest and not rest[0].startswith("-"):
        # positional model tag, as in the real `vllm serve MODEL`
        rest = [f"--model={rest[0]}"] + rest[1:]
    from vllm.entrypoints.openai.api_server import serve

    return serve(rest, prog="vllm serve")


if __name__ == "__main__":
    sys.exit(main())
