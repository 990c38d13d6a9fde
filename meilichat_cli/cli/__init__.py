"""The command line: the typer application, the error boundary, options shared by commands,
shell completion, help topics and one thin module per command group.

The only package that imports typer. Nothing imports it but `__main__`.
"""
