"""This machine: the run context (environment, streams, paths), files written safely, the
config and credentials files, profiles and how a connection is resolved from them.

Must not import httpx, rich, typer or prompt_toolkit, nor `api` or anything above it.
"""
